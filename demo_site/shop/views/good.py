"""Views with nothing to fix, for contrast."""

from __future__ import annotations

import time

from django.db.models import Count
from django.http import HttpRequest, JsonResponse
from django.views import View

from demo_site.shop import clients
from demo_site.shop.models import Category
from demo_site.shop.views._common import result


async def async_done_right(request: HttpRequest) -> JsonResponse:
    """An async view that awaits an async HTTP client and blocks nothing: no finding.

    The client's SSL context is built once at import (``shop/clients.py``), not per
    request on the loop.
    """
    started = time.perf_counter()
    async with clients.async_client() as client:
        response = await client.get(clients.url(50, "weather"))
    response.raise_for_status()
    return result("async-done-right", "async", started, results=[response.json()])


class CategoryListView(View):
    """A class-based view with only a sync ``get``. AA204 (info): under ASGI Django runs
    it through ``sync_to_async``, one hop per request.

    That is fine here (one short query); with an I/O-bound ``get``, ``async def get``
    would let Django run it on the event loop.
    """

    def get(self, request: HttpRequest) -> JsonResponse:
        started = time.perf_counter()
        counts = Category.objects.annotate(n=Count("products")).values_list("name", "n")
        rows = [{"name": name, "products": n} for name, n in counts]
        return result("category-list", "sync", started, categories=rows)
