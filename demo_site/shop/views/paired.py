"""Sync views and their async rewrites, doing the same work (listed in ``shop/pairs.py``).

Read each pair side by side: the async view changes how the work waits, never what it
does, so the latency difference measured between them is the one async really buys.
"""

from __future__ import annotations

import asyncio
import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from demo_site.shop import clients
from demo_site.shop.models import Product
from demo_site.shop.views._common import result
from demo_site.shop.work import CPU_LIMIT, count_primes

# (name, upstream delay in ms): three calls that do not depend on each other.
FANOUT_CALLS = (("inventory", 100), ("pricing", 100), ("shipping", 100))
SLOW_CALL = ("quote", 150)
PAGE_SIZE = 20


# -- fan-out: 3 independent calls ----------------------------------------------------------


def fanout_sync(request: HttpRequest) -> JsonResponse:
    """Three independent upstream calls, one after the other: ~300 ms. AA305 + AA306.

    The worker thread sits idle for the whole 300 ms, and since nothing links the calls,
    async could overlap them and answer in about the time of the slowest.
    """
    started = time.perf_counter()
    with clients.session() as session:
        results = []
        for name, ms in FANOUT_CALLS:
            response = session.get(clients.url(ms, name), timeout=clients.TIMEOUT)
            response.raise_for_status()
            results.append(response.json())
    return result("fanout", "sync", started, results=results)


async def fanout_async(request: HttpRequest) -> JsonResponse:
    """The same three calls gathered with ``httpx.AsyncClient``: ~100 ms, the longest call.

    The async rewrite of ``fanout_sync``; nothing to fix.
    """
    started = time.perf_counter()
    async with clients.async_client() as client:
        responses = await asyncio.gather(
            *(client.get(clients.url(ms, name)) for name, ms in FANOUT_CALLS)
        )
    for response in responses:
        response.raise_for_status()
    return result("fanout", "async", started, results=[r.json() for r in responses])


# -- one slow call -------------------------------------------------------------------------


def slow_call_sync(request: HttpRequest) -> JsonResponse:
    """One 150 ms upstream call. AA305: I/O-bound; async would not be faster, but it would
    free the worker thread for other requests while the call waits.
    """
    started = time.perf_counter()
    name, ms = SLOW_CALL
    with clients.session() as session:
        response = session.get(clients.url(ms, name), timeout=clients.TIMEOUT)
        response.raise_for_status()
    return result("slow-call", "sync", started, results=[response.json()])


async def slow_call_async(request: HttpRequest) -> JsonResponse:
    """The same call, awaited with ``httpx.AsyncClient``: same ~150 ms, no thread held."""
    started = time.perf_counter()
    name, ms = SLOW_CALL
    async with clients.async_client() as client:
        response = await client.get(clients.url(ms, name))
    response.raise_for_status()
    return result("slow-call", "async", started, results=[response.json()])


# -- CPU-bound -----------------------------------------------------------------------------


def cpu_sync(request: HttpRequest) -> JsonResponse:
    """About 50 ms of pure-Python computation, no I/O. AA307: keep it sync.

    There is nothing to wait on, so async cannot overlap anything; in a thread it at
    least leaves the event loop free.
    """
    started = time.perf_counter()
    return result("cpu", "sync", started, primes=count_primes(CPU_LIMIT))


async def cpu_async(request: HttpRequest) -> JsonResponse:
    """The same computation in an ``async def`` view: no faster, and it runs on the event
    loop, stalling every other request on this worker while it computes.
    """
    started = time.perf_counter()
    return result("cpu", "async", started, primes=count_primes(CPU_LIMIT))


# -- DB-only CRUD --------------------------------------------------------------------------


def products_sync(request: HttpRequest) -> HttpResponse:
    """A page of products and a count: two short queries and a template. AA307: keep sync.

    A few milliseconds of database work gain nothing from async, and the async ORM would
    add a thread hop per query.
    """
    products = list(Product.objects.select_related("category").order_by("name")[:PAGE_SIZE])
    total = Product.objects.count()
    context = {"mode": "sync", "products": products, "total": total}
    return render(request, "demo/products.html", context)


async def products_async(request: HttpRequest) -> HttpResponse:
    """The same two queries with the async ORM (``async for``, ``acount``) and the same
    template: each query is still sync underneath, run through ``sync_to_async``.
    """
    queryset = Product.objects.select_related("category").order_by("name")[:PAGE_SIZE]
    products = [product async for product in queryset]
    total = await Product.objects.acount()
    context = {"mode": "async", "products": products, "total": total}
    return render(request, "demo/products.html", context)
