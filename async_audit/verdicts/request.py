"""Facts about one request, read off its trace, and what it would cost as an async view.

The prediction for a sync view rewritten as async:
  - the hop Django makes to run the sync view is no longer paid;
  - outbound calls that ran one after another can overlap (gathered): their serial time
    becomes the longest call's;
  - DB work stays serial on one connection, and each ORM or cache call becomes an ``a*``
    method, which is one ``sync_to_async`` hop: that hop's price is measured in this very
    request (the median overhead of its hops); a request served by WSGI has no hops, so it
    is priced at ``WSGI_HOP_COST_MS``, the middle of what a hop was measured to cost;
  - CPU stays as it is.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from async_audit.trace.stack import is_library_file
from async_audit.verdicts.timeline import Breakdown, breakdown, union_ms

__all__ = ["WSGI_HOP_COST_MS", "RequestFacts", "facts"]

# sync_to_async(noop) measured 46-84 us on a 2-core VM (docs/async-internals.md).
WSGI_HOP_COST_MS = 0.065


@dataclass
class RequestFacts:
    trace: dict[str, Any]
    breakdown: Breakdown
    is_async: bool | None
    http: list[dict[str, Any]]
    serial_http: list[dict[str, Any]]  # outbound calls that overlapped no other
    queries: int
    cache_calls: int
    hop_cost_ms: float
    view_hop_overhead_ms: float
    user_blocking: list[dict[str, Any]]
    framework_blocking: list[dict[str, Any]]
    uncovered_lags: list[dict[str, Any]]
    exceptions: list[dict[str, Any]]
    fanout_saving_ms: float = 0.0
    predicted_async_ms: float | None = None
    worker_ms_freed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    # Read by the rules only, not by the figure columns the sampling writer computes for
    # every sample (``figures.request_row``): computed when first read.
    @cached_property
    def user_hops(self) -> list[dict[str, Any]]:
        """The view's own hops: made while the view ran (older traces: by their call site)."""
        events = self.trace["events"]
        hops = [e for e in events if e["kind"] == "hop"]
        windows = [e for e in events if e["kind"] == "view" and e.get("end_ms") is not None]
        if windows:
            return [h for h in hops if any(_within(h, w) for w in windows)]
        return [h for h in hops if _is_user_site(h.get("site"))]

    @cached_property
    def max_queue_wait_ms(self) -> float:
        return _contended_wait(
            [e for e in self.trace["events"]
             if e["kind"] == "hop" and e.get("direction") == "sync_to_async"]
        )  # fmt: skip

    @property
    def http_ms(self) -> float:
        return self.breakdown.io_by_kind.get("http", 0.0)

    @property
    def awaitable_io_ms(self) -> float:
        """I/O an async view would wait for without holding a thread: all but DB and cache."""
        return sum(v for k, v in self.breakdown.io_by_kind.items() if k not in ("db", "cache"))


def _is_user_site(site: Any) -> bool:
    return bool(site) and not is_library_file(site[0])


def _is_view_hop(hop: dict[str, Any], view: str | None) -> bool:
    target = hop.get("target", "")
    if view and (target == view or target.startswith(view + ".")):
        return True
    # A class-based view: Django hops on the function as_view() made.
    return ".as_view.<locals>.view" in target


def _within(inner: dict[str, Any], outer: dict[str, Any]) -> bool:
    # An event that never ended (the response went out first) is judged by its start.
    inner_end = inner["end_ms"] if inner["end_ms"] is not None else inner["start_ms"]
    outer_end = outer["end_ms"] if outer["end_ms"] is not None else math.inf
    return bool(outer["start_ms"] <= inner["start_ms"] and inner_end <= outer_end)


def _run_window(hop: dict[str, Any]) -> tuple[float, float]:
    """When the hop's function really ran (after its queue wait); its whole span if unknown."""
    wait, run = hop.get("queue_wait_ms"), hop.get("run_ms")
    if wait is None or run is None:
        return hop["start_ms"], hop["end_ms"]
    start = hop["start_ms"] + wait
    return start, start + run


def _overlapped(spans: list[tuple[float, float]]) -> list[bool]:
    """For each span, whether another one overlaps it (open intervals): sort and sweep.

    Spans are sorted by start; those starting before a span's end form a prefix, and the
    span overlaps one of them iff the longest end in that prefix, itself left out, passes
    its start. Prefix maxima keep the best two ends so a span never counts itself.
    """
    order = sorted(range(len(spans)), key=lambda i: spans[i][0])
    starts = [spans[i][0] for i in order]
    best: list[tuple[float, int]] = []  # per prefix length - 1: (longest end, its index)
    second: list[float] = []  # the runner-up end in that prefix
    top, top_i, runner = -math.inf, -1, -math.inf
    for i in order:
        end = spans[i][1]
        if end > top:
            top, top_i, runner = end, i, top
        elif end > runner:
            runner = end
        best.append((top, top_i))
        second.append(runner)
    out = []
    for i, (start, end) in enumerate(spans):
        k = bisect_left(starts, end)  # spans starting strictly before this one's end
        if k == 0:
            out.append(False)
            continue
        longest, who = best[k - 1]
        out.append((second[k - 1] if who == i else longest) > start)
    return out


def _contended_wait(hops: list[dict[str, Any]]) -> float:
    """The longest queue wait spent behind another hop of this request on the same thread.

    A wait with no other hop running there (a thread starting, a busy machine) is not what
    AA304 is about: only hops of one request queueing for its thread-sensitive thread. A
    hop whose run encloses the waiting one is its parent (a sync middleware's thread serving
    the inner chain through asgiref's CurrentThreadExecutor), not a rival.

    A rival's run either starts inside the wait, or starts before it and ends between the
    wait's start and the waiting hop's end (it ends before the hop does, so it is no parent).
    Per thread: sorted run starts answer the first, a sweep over the waits the second.
    """
    runners: dict[Any, list[tuple[float, float]]] = {}
    waiters: dict[Any, list[dict[str, Any]]] = {}
    for h in hops:
        thread = h.get("run_thread")
        if thread is None:
            continue
        if h.get("queue_wait_ms") is not None and h.get("run_ms") is not None:
            runners.setdefault(thread, []).append(_run_window(h))
        if (h.get("queue_wait_ms") or 0.0) > 0:
            waiters.setdefault(thread, []).append(h)
    longest = 0.0
    for thread, waiting in waiters.items():
        windows = sorted(runners.get(thread, ()))
        run_starts = [w[0] for w in windows]
        waiting.sort(key=lambda h: h["start_ms"])
        ends_so_far: list[float] = []  # run ends of runs started at or before the sweep point
        k = 0
        for h in waiting:
            begin, wait = h["start_ms"], h["queue_wait_ms"]
            if wait <= longest:
                continue
            end = math.inf if h.get("end_ms") is None else h["end_ms"]
            while k < len(windows) and windows[k][0] <= begin:
                insort(ends_so_far, windows[k][1])
                k += 1
            # A run starting strictly inside the wait (the hop's own run starts at its end).
            i = bisect_right(run_starts, begin)
            rival = i < len(run_starts) and run_starts[i] < begin + wait
            if not rival:
                # A run started by then that ends after the wait began but before the hop.
                j = bisect_right(ends_so_far, begin)
                rival = j < len(ends_so_far) and ends_so_far[j] < end
            if rival:
                longest = wait
    return longest


def _serial(calls: list[dict[str, Any]], hops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Outbound calls that ran one after another and could overlap.

    Calls serialised only because their ``sync_to_async`` hops queued for the request's
    thread were already gathered: that is AA304's advice, not a fan-out.
    """
    overlapped = _overlapped([(c["start_ms"], c["end_ms"]) for c in calls])
    out = [c for c, o in zip(calls, overlapped, strict=True) if not o]
    if not out or not hops:
        return out
    # The hop whose function ran the call: the latest-starting run window that holds it
    # (the first such hop in trace order on a tie). Windows sorted by start; for a call,
    # the rightmost window starting at or before it whose end reaches the call's end.
    order = sorted(range(len(hops)), key=lambda i: (_run_window(hops[i])[0], -i))
    windows = [_run_window(hops[i]) for i in order]
    starts = [w[0] for w in windows]
    ends = _MaxTree([w[1] for w in windows])
    hop_of: list[int | None] = []
    for c in out:
        k = ends.last_at_least(bisect_right(starts, c["start_ms"]), c["end_ms"])
        hop_of.append(None if k is None else order[k])
    # Calls whose hops overlap another of these hops queued for the thread, not in series.
    used = sorted({i for i in hop_of if i is not None})
    clash = dict(
        zip(
            used, _overlapped([(hops[i]["start_ms"], hops[i]["end_ms"]) for i in used]), strict=True
        )
    )
    return [c for c, i in zip(out, hop_of, strict=True) if i is None or not clash[i]]


class _MaxTree:
    """A max segment tree: the last index below ``limit`` whose value is at least ``x``."""

    __slots__ = ("size", "tree")

    def __init__(self, values: list[float]) -> None:
        size = 1
        while size < len(values):
            size *= 2
        self.size = size
        self.tree = [-math.inf] * (2 * size)
        self.tree[size : size + len(values)] = values
        for i in range(size - 1, 0, -1):
            self.tree[i] = max(self.tree[2 * i], self.tree[2 * i + 1])

    def last_at_least(self, limit: int, x: float) -> int | None:
        return self._last(1, 0, self.size, limit, x)

    def _last(self, node: int, lo: int, hi: int, limit: int, x: float) -> int | None:
        if lo >= limit or self.tree[node] < x:
            return None
        if hi - lo == 1:
            return lo
        mid = (lo + hi) // 2
        found = self._last(2 * node + 1, mid, hi, limit, x)
        return found if found is not None else self._last(2 * node, lo, mid, limit, x)


def _explained(lag: dict[str, Any], blocking: list[dict[str, Any]]) -> bool:
    """A stall that blocking calls account for: one of the project's (its AA301 says it),
    or the library's over at least half the stall. A short call that merely falls inside a
    long stall does not explain it: on a loaded machine the heartbeat that ends a stall comes
    late, and the window then takes in the loop's next callbacks and their brief calls."""
    start, end = float(lag["start_ms"]), float(lag["end_ms"])
    inside = [b for b in blocking if b["start_ms"] < end and start < b["end_ms"]]
    if any(_is_user_site(b.get("site")) for b in inside):
        return True
    covered = union_ms((max(b["start_ms"], start), min(b["end_ms"], end)) for b in inside)
    return covered >= 0.5 * (end - start)


def facts(trace: dict[str, Any]) -> RequestFacts:
    events = trace["events"]
    hops = [e for e in events if e["kind"] == "hop"]
    # Nested hops count here too: "nested" only says their CPU is counted in their parent's.
    s2a = [h for h in hops if h.get("direction") == "sync_to_async"]
    overheads = [h.get("overhead_ms", 0.0) for h in s2a]
    view = trace.get("view")
    view_hops = [h for h in s2a if _is_view_hop(h, view)]
    view_hop = max(view_hops, key=lambda h: h["duration_ms"]) if view_hops else None
    http = sorted((e for e in events if e["kind"] == "http"), key=lambda e: e["start_ms"])
    blocking = [e for e in events if e["kind"] == "blocking"]
    lags = [e for e in events if e["kind"] == "loop_lag"]
    f = RequestFacts(
        trace=trace,
        breakdown=breakdown(trace),
        is_async=trace.get("view_is_async"),
        http=http,
        serial_http=_serial(http, [h for h in hops if h.get("end_ms") is not None]),
        queries=sum(e["kind"] == "query" for e in events),
        cache_calls=sum(e["kind"] == "cache" for e in events),
        hop_cost_ms=statistics.median(overheads) if overheads else WSGI_HOP_COST_MS,
        view_hop_overhead_ms=view_hop.get("overhead_ms", 0.0) if view_hop else 0.0,
        user_blocking=[b for b in blocking if _is_user_site(b.get("site"))],
        framework_blocking=[b for b in blocking if not _is_user_site(b.get("site"))],
        uncovered_lags=[g for g in lags if not _explained(g, blocking)],
        exceptions=[e for e in events if e["kind"] == "exception"],
    )
    serial = f.serial_http
    if len(serial) >= 2:
        f.fanout_saving_ms = sum(c["duration_ms"] for c in serial) - max(
            c["duration_ms"] for c in serial
        )
    wall = f.breakdown.wall_ms
    if f.is_async is False:
        added_hops = (f.queries + f.cache_calls) * f.hop_cost_ms
        f.predicted_async_ms = max(
            0.0, wall - f.view_hop_overhead_ms - f.fanout_saving_ms + added_hops
        )
        # The view's thread only waits while outbound I/O runs: async frees it for that long.
        f.worker_ms_freed = f.awaitable_io_ms
    elif f.is_async:
        f.predicted_async_ms = max(0.0, wall - f.fanout_saving_ms)
    f.extra["http_serial_ms"] = union_ms((c["start_ms"], c["end_ms"]) for c in serial)
    return f
