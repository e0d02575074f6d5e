"""Every demo page: where it is, which view serves it, what to look for, what to expect.

The index page renders this list and ``tests/demo`` requests every entry, so it is the one
place to add a case. ``expect`` holds the finding codes the audit should report for the
page's view (static ones from the source, runtime ones from a probe).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CASES", "GROUPS", "PROJECT_FINDINGS", "Case"]

_VIEWS = "demo_site.shop.views"


@dataclass(frozen=True)
class Case:
    path: str
    name: str  # URL name
    view: str  # dotted path, as the audit names the view
    title: str
    look_for: str
    expect: tuple[str, ...]
    group: str
    status: int = 200
    is_async: bool = True


GROUPS = {
    "pairs": "Sync views and their async rewrites (same work: compare the latencies)",
    "mistakes": "Mistakes in async views",
    "hops": "Thread hops",
    "good": "Nothing to fix",
}

CASES: tuple[Case, ...] = (
    Case(
        "/fanout/sync/", "fanout-sync", f"{_VIEWS}.paired.fanout_sync",
        "Fan-out, sync",
        "Three independent 100 ms upstream calls in a row (~300 ms): I/O-bound, and async "
        "could overlap them.",
        ("AA305", "AA306"), "pairs", is_async=False,
    ),
    Case(
        "/fanout/async/", "fanout-async", f"{_VIEWS}.paired.fanout_async",
        "Fan-out, async",
        "The same calls gathered with httpx.AsyncClient (~100 ms): compare with the "
        "predicted_async_ms of the sync twin.",
        (), "pairs",
    ),
    Case(
        "/slow-call/sync/", "slow-call-sync", f"{_VIEWS}.paired.slow_call_sync",
        "One slow call, sync",
        "One 150 ms upstream call holding a worker thread: I/O-bound.",
        ("AA305",), "pairs", is_async=False,
    ),
    Case(
        "/slow-call/async/", "slow-call-async", f"{_VIEWS}.paired.slow_call_async",
        "One slow call, async",
        "The same call awaited: the same ~150 ms, but no thread is held while it waits.",
        (), "pairs",
    ),
    Case(
        "/cpu/sync/", "cpu-sync", f"{_VIEWS}.paired.cpu_sync",
        "CPU-bound, sync",
        "About 50 ms of pure-Python work and no I/O: the verdict is keep sync.",
        ("AA307",), "pairs", is_async=False,
    ),
    Case(
        "/cpu/async/", "cpu-async", f"{_VIEWS}.paired.cpu_async",
        "CPU-bound, async",
        "The same work on the event loop: no faster, and it stalls other requests.",
        (), "pairs",
    ),
    Case(
        "/db/sync/", "products-sync", f"{_VIEWS}.paired.products_sync",
        "DB-only page, sync",
        "Two short queries and a template: a few ms of database work, keep sync.",
        ("AA307",), "pairs", is_async=False,
    ),
    Case(
        "/db/async/", "products-async", f"{_VIEWS}.paired.products_async",
        "DB-only page, async",
        "The same queries with the async ORM: one thread hop per query, no gain.",
        (), "pairs",
    ),
    Case(
        "/mistakes/blocking-call/", "blocking-call", f"{_VIEWS}.mistakes.blocking_call",
        "Blocking call in an async view",
        "requests.get inside async def: the source scan flags it, and the probe records "
        "the 40 ms it blocked the event loop.",
        ("AA201", "AA301"), "mistakes",
    ),
    Case(
        "/mistakes/loop-stall/", "loop-stall", f"{_VIEWS}.mistakes.loop_stall",
        "Event loop stalled by computation",
        "150 ms of CPU work on the loop: no blocking API, only the watchdog sees it.",
        ("AA302",), "mistakes",
    ),
    Case(
        "/mistakes/sync-orm/", "sync-orm", f"{_VIEWS}.mistakes.sync_orm",
        "Sync ORM in an async view (answers 500)",
        "Product.objects.count() in async def: SynchronousOnlyOperation, on purpose.",
        ("AA202", "AA308"), "mistakes", status=500,
    ),
    Case(
        "/mistakes/hidden-by-decorator/", "hidden-by-decorator",
        f"{_VIEWS}.mistakes.hidden_by_decorator",
        "Async view hidden by a sync decorator (answers 500)",
        "A sync wrapper returns the view's coroutine unawaited; Django rejects it, on "
        "purpose.",
        ("AA203",), "mistakes", status=500, is_async=False,
    ),
    Case(
        "/mistakes/async-wrapper/", "async-wrapper", f"{_VIEWS}.mistakes.sync_view_in_async_wrapper",
        "Sync view behind an async decorator",
        "The async-only wrapper runs the sync body, and its 30 ms HTTP call, on the loop.",
        ("AA203", "AA301"), "mistakes",
    ),
    Case(
        "/hops/n-plus-one/", "review-counts", f"{_VIEWS}.hops.review_counts",
        "Hop-heavy async view",
        "One acount() per product in a loop: 25+ thread hops for a few ms of SQL.",
        ("AA303",), "hops",
    ),
    Case(
        "/hops/gathered-sync-calls/", "gathered-sync-calls",
        f"{_VIEWS}.hops.gathered_sync_calls",
        "Gathered sync_to_async calls that queue",
        "Four 30 ms calls gathered take ~120 ms: they wait for the request's one "
        "thread-sensitive thread.",
        ("AA304",), "hops",
    ),
    Case(
        "/good/async/", "async-done-right", f"{_VIEWS}.good.async_done_right",
        "An async view done right",
        "Awaits an async HTTP client and blocks nothing: no view finding.",
        (), "good",
    ),
    Case(
        "/good/categories/", "category-list", f"{_VIEWS}.good.CategoryListView",
        "Sync-only class-based view",
        "A View with only a sync get: one hop per request under ASGI (informational).",
        ("AA204",), "good", is_async=False,
    ),
)  # fmt: skip

# Findings about the project rather than one page: (code, target, why).
PROJECT_FINDINGS: tuple[tuple[str, str, str], ...] = (
    (
        "AA101",
        "demo_site.shop.middleware.RequestTimingMiddleware",
        "sync-only, so the seven startproject middleware above it run sync too",
    ),
    (
        "AA102",
        "demo_site.shop.middleware.RequestIdMiddleware",
        "MiddlewareMixin hooks: one hop for process_request, one for process_response",
    ),
    (
        "AA103",
        "demo_site.shop.middleware.ViewNameMiddleware",
        "a sync process_view: one hop per request",
    ),
    ("AA105", "DATABASES['default']", "CONN_MAX_AGE = 60 does not help under ASGI"),
    ("AA108", "DEBUG", "DEBUG is on: timings overstate production"),
)
