from __future__ import annotations

import asyncio
import os
import time
import urllib.request

import httpx
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse

from async_audit.trace import tag


def sync_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("sync")


async def async_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async")


def sync_sleep(request: HttpRequest) -> HttpResponse:
    time.sleep(0.03)
    return HttpResponse("slept")


async def async_sleep(request: HttpRequest) -> HttpResponse:
    time.sleep(0.03)  # blocks the event loop: the instruments must point here
    return HttpResponse("slept")


# Views for the concurrency test: each request tags itself with its id, and every event it
# causes carries that id (in the SQL text, the upstream path), so a leak is visible.

_client: httpx.AsyncClient | None = None


def _upstream() -> str:
    return os.environ["AA_UPSTREAM"]


def _select(n: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {n}")


def sync_tagged(request: HttpRequest, rid: int) -> HttpResponse:
    tag("rid", rid)
    _select(rid)
    cache.get(f"k{rid}")
    with urllib.request.urlopen(f"{_upstream()}/echo/{rid}?secret=s{rid}") as response:
        response.read()
    return HttpResponse(str(rid))


async def async_tagged(request: HttpRequest, rid: int) -> HttpResponse:
    global _client
    tag("rid", rid)
    await sync_to_async(_select, thread_sensitive=False)(rid)
    await asyncio.to_thread(_select, rid + 100000)
    await cache.aget(f"k{rid}")
    if _client is None:
        _client = httpx.AsyncClient(verify=False, limits=httpx.Limits(max_connections=500))
    await _client.get(f"{_upstream()}/echo/{rid}?secret=s{rid}")
    time.sleep(0.002)  # a blocking call on the loop, for the trace to catch
    return HttpResponse(str(rid))


async def async_sync_orm(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth.models import User

    return HttpResponse(str(User.objects.count()))  # sync ORM on the loop: raises
