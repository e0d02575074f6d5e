"""Async views written with the usual mistakes, one mistake per view.

Two of them answer 500 on purpose (the sync ORM one and the hidden-by-a-decorator one):
that is what those mistakes do in production, and the audit shows why.
"""

from __future__ import annotations

import time

import requests
from django.http import HttpRequest, JsonResponse

from demo_site.shop import clients
from demo_site.shop.decorators import count_hits, log_duration
from demo_site.shop.models import Product
from demo_site.shop.views._common import result
from demo_site.shop.work import LOOP_STALL_MS, count_primes_for


async def blocking_call(request: HttpRequest) -> JsonResponse:
    """An async view calling ``requests.get``: the 40 ms wait blocks the event loop.
    AA201 (found in the source) and AA301 (seen at run time, with the stack).

    Every other request on this worker waits too. Use ``httpx.AsyncClient`` (see
    ``good.async_done_right``) or ``await sync_to_async(...)`` around the call.
    """
    started = time.perf_counter()
    response = requests.get(clients.url(40, "stock"), timeout=clients.TIMEOUT)
    return result("blocking-call", "async", started, results=[response.json()])


async def loop_stall(request: HttpRequest) -> JsonResponse:
    """150 ms of computation (CPU time) on the event loop. AA302: only the loop watchdog sees it.

    No blocking API is called, so neither the source scan nor the patched calls notice;
    the watchdog measures how late the loop answers and samples its stack.
    """
    started = time.perf_counter()
    return result("loop-stall", "async", started, primes=count_primes_for(LOOP_STALL_MS))


async def sync_orm(request: HttpRequest) -> JsonResponse:
    """Intentionally broken: the sync ORM in an async view. AA202 (source) and AA308 (run
    time): Django raises ``SynchronousOnlyOperation`` and answers 500.

    Use ``await Product.objects.acount()``, or move the block into a sync function
    called through ``sync_to_async``.
    """
    started = time.perf_counter()
    total = Product.objects.count()
    return result("sync-orm", "async", started, total=total)


@count_hits
async def hidden_by_decorator(request: HttpRequest) -> JsonResponse:
    """Intentionally broken: an async view behind a sync decorator. AA203: Django calls the
    sync wrapper in a thread, gets an unawaited coroutine back, and answers 500
    (``ValueError: ... returned an unawaited coroutine``).
    """
    started = time.perf_counter()
    return result("hidden-by-decorator", "async", started)


@log_duration
def sync_view_in_async_wrapper(request: HttpRequest) -> JsonResponse:
    """A sync view behind an async-only decorator. AA203 (the reverse case) and AA301:
    Django treats it as async, and the wrapper runs this blocking body on the event loop.

    It answers 200, which is what makes it dangerous: it only shows under load.
    """
    started = time.perf_counter()
    with clients.session() as session:
        response = session.get(clients.url(30, "legacy"), timeout=clients.TIMEOUT)
    return result("sync-view-in-async-wrapper", "sync", started, results=[response.json()])
