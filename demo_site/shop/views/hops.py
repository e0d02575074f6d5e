"""Async views whose cost is thread hops: correct code, expensive shape."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse

from demo_site.shop import clients
from demo_site.shop.models import Product, Review
from demo_site.shop.views._common import result

HOP_PRODUCTS = 24
PRICE_SKUS = ("SKU-0001", "SKU-0002", "SKU-0003", "SKU-0004")


async def review_counts(request: HttpRequest) -> JsonResponse:
    """An N+1 loop with the async ORM: one ``acount()`` per product, each a thread hop.
    AA303: 24 products are 25+ hops for a few milliseconds of SQL.

    Annotate instead (``Product.objects.annotate(n=Count("reviews"))``): one query, one hop.
    """
    started = time.perf_counter()
    rows = []
    async for product in Product.objects.order_by("id")[:HOP_PRODUCTS]:
        reviews = await Review.objects.filter(product=product).acount()
        rows.append({"sku": product.sku, "reviews": reviews})
    return result("review-counts", "async", started, rows=rows)


def legacy_price_lookup(sku: str) -> dict[str, Any]:
    """A sync client call the project cannot rewrite yet: 30 ms on the upstream."""
    with clients.session() as session:
        response = session.get(clients.url(30, sku), timeout=clients.TIMEOUT)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


async def gathered_sync_calls(request: HttpRequest) -> JsonResponse:
    """Four sync lookups wrapped in ``sync_to_async`` and gathered: they look concurrent,
    but ``sync_to_async`` is thread-sensitive by default and a request has one such
    thread, so they queue and run one after another: ~120 ms, not ~30. AA304.

    ``sync_to_async(legacy_price_lookup, thread_sensitive=False)`` would run them in
    parallel (it touches no database connection); an async client is better still.
    """
    started = time.perf_counter()
    prices = await asyncio.gather(*(sync_to_async(legacy_price_lookup)(sku) for sku in PRICE_SKUS))
    return result("gathered-sync-calls", "async", started, results=list(prices))
