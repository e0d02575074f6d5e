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
    tag("rid", rid)
    await sync_to_async(_select, thread_sensitive=False)(rid)
    await asyncio.to_thread(_select, rid + 100000)
    await cache.aget(f"k{rid}")
    await _shared_client().get(f"{_upstream()}/echo/{rid}?secret=s{rid}")
    time.sleep(0.002)  # a blocking call on the loop, for the trace to catch
    return HttpResponse(str(rid))


async def async_sync_orm(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth.models import User

    return HttpResponse(str(User.objects.count()))  # sync ORM on the loop: raises


# Pairs of equivalent endpoints (sync, and its async rewrite) on which the verdicts'
# predictions are checked, plus views that each show one runtime finding.

FANOUT_MS, SLOW_MS, CPU_MS = 60, 80, 60


def _get_sync(path: str) -> None:
    with urllib.request.urlopen(f"{_upstream()}{path}") as response:
        response.read()


async def _get_async(client: httpx.AsyncClient, path: str) -> None:
    (await client.get(f"{_upstream()}{path}")).raise_for_status()


def _burn() -> int:
    # A fixed amount of CPU time, not of work: a fast CPU once finished a fixed loop in
    # 16 ms, under the 20 ms at which a view counts as CPU-bound.
    total, end = 0, time.thread_time() + CPU_MS / 1000
    while time.thread_time() < end:
        for i in range(2_000):
            total += i * i % 7
    return total


def fanout_sync(request: HttpRequest) -> HttpResponse:
    for i in range(3):
        _get_sync(f"/slow/{FANOUT_MS}/{i}")
    return HttpResponse("fanout")


_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}


def _shared_client() -> httpx.AsyncClient:
    # One client per event loop (tests run one loop per request): making one per request
    # builds an SSL context on the loop (~100 ms here), which the watchdog reports as a stall.
    loop = asyncio.get_running_loop()
    if loop not in _clients:
        _clients[loop] = httpx.AsyncClient(limits=httpx.Limits(max_connections=500))
    return _clients[loop]


async def fanout_async(request: HttpRequest) -> HttpResponse:
    client = _shared_client()
    await asyncio.gather(*(_get_async(client, f"/slow/{FANOUT_MS}/{i}") for i in range(3)))
    return HttpResponse("fanout")


def slow_sync(request: HttpRequest) -> HttpResponse:
    _get_sync(f"/slow/{SLOW_MS}/one")
    return HttpResponse("slow")


async def slow_async(request: HttpRequest) -> HttpResponse:
    await _get_async(_shared_client(), f"/slow/{SLOW_MS}/one")
    return HttpResponse("slow")


def cpu_sync(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(_burn()))


async def cpu_async(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(_burn()))


def db_sync(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth.models import User

    exists = User.objects.filter(username="nobody").exists()
    return HttpResponse(f"{exists} {User.objects.count()}")


async def db_async(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth.models import User

    exists = await User.objects.filter(username="nobody").aexists()
    return HttpResponse(f"{exists} {await User.objects.acount()}")


async def one_orm_async(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth.models import User

    return HttpResponse(str(await User.objects.acount()))


async def hop_heavy_async(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth.models import User

    counts = [await sync_to_async(User.objects.count)() for _ in range(8)]
    return HttpResponse(str(sum(counts)))


async def gathered_hops_async(request: HttpRequest) -> HttpResponse:
    await asyncio.gather(*(sync_to_async(time.sleep)(0.015) for _ in range(3)))
    return HttpResponse("gathered")


async def home(request: HttpRequest) -> HttpResponse:
    """The root route (pattern ""): a home page must be judged like any other route."""
    return HttpResponse("home")


def secrets_sync(request: HttpRequest) -> HttpResponse:
    """Handles a secret every way a view can: the sampling tests check none of it is stored."""
    secret = request.GET.get("q", "") + request.body.decode() + request.COOKIES.get("sid", "")
    secret += request.headers.get("Authorization", "")
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s", [secret])
        cursor.fetchone()
    upstream = os.environ.get("AA_UPSTREAM")
    if upstream:
        from urllib.parse import quote

        query = quote(secret)
        with urllib.request.urlopen(f"{upstream}/echo/{request.GET.get('q', '')}?k={query}") as r:
            r.read()
    try:
        raise ValueError(f"bad token {secret}")
    except ValueError:
        pass
    return HttpResponse("ok")
