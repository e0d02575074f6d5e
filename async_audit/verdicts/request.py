"""Facts about one request, read off its trace, and what it would cost as an async view.

The prediction for a sync view rewritten as async:
  - the hop Django makes to run the sync view is no longer paid;
  - outbound calls that ran one after another can overlap (gathered): their serial time
    becomes the longest call's;
  - DB work stays serial on one connection, and each ORM or cache call becomes an ``a*``
    method, which is one ``sync_to_async`` hop: that hop's price is measured in this very
    request (the median overhead of its hops);
  - CPU stays as it is.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from async_audit.trace.stack import is_library_file
from async_audit.verdicts.timeline import Breakdown, breakdown, union_ms

__all__ = ["RequestFacts", "facts"]


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
    user_hops: list[dict[str, Any]]
    user_blocking: list[dict[str, Any]]
    framework_blocking: list[dict[str, Any]]
    uncovered_lags: list[dict[str, Any]]
    exceptions: list[dict[str, Any]]
    max_queue_wait_ms: float
    fanout_saving_ms: float = 0.0
    predicted_async_ms: float | None = None
    worker_ms_freed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

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


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["start_ms"] < b["end_ms"] and b["start_ms"] < a["end_ms"])


def _within(inner: dict[str, Any], outer: dict[str, Any]) -> bool:
    return bool(outer["start_ms"] <= inner["start_ms"] and inner["end_ms"] <= outer["end_ms"])


def _contended_wait(hops: list[dict[str, Any]]) -> float:
    """The longest queue wait spent behind another hop of this request on the same thread.

    A wait with no other hop running there (a thread starting, a busy machine) is not what
    AA304 is about: only hops of one request queueing for its thread-sensitive thread.
    """
    longest = 0.0
    for h in hops:
        wait = h.get("queue_wait_ms") or 0.0
        if wait <= longest or h.get("run_thread") is None:
            continue
        window = {"start_ms": h["start_ms"], "end_ms": h["start_ms"] + wait}
        # A hop whose run encloses this one is its parent (a sync middleware's thread
        # serving the inner chain through asgiref's CurrentThreadExecutor), not a rival.
        if any(
            g is not h
            and g.get("run_thread") == h["run_thread"]
            and _overlap(_run_window(g), window)
            and not _within(h, _run_window(g))
            for g in hops
            if g.get("queue_wait_ms") is not None and g.get("run_ms") is not None
        ):
            longest = wait
    return longest


def _run_window(hop: dict[str, Any]) -> dict[str, Any]:
    if hop.get("queue_wait_ms") is None or hop.get("run_ms") is None:
        return hop
    start = hop["start_ms"] + hop["queue_wait_ms"]
    return {"start_ms": start, "end_ms": start + hop["run_ms"]}


def _serial(calls: list[dict[str, Any]], hops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Outbound calls that ran one after another and could overlap.

    Calls serialised only because their ``sync_to_async`` hops queued for the request's
    thread were already gathered: that is AA304's advice, not a fan-out.
    """
    out = [c for c in calls if not any(o is not c and _overlap(o, c) for o in calls)]
    # The hop whose function ran the call: its run window (after the queue wait) holds it.
    hop_of: dict[int, dict[str, Any] | None] = {}
    for c in out:
        around = [h for h in hops if _within(c, _run_window(h))]
        hop_of[id(c)] = max(around, key=lambda h: _run_window(h)["start_ms"]) if around else None
    queued = set()
    for c in out:
        for d in out:
            hc, hd = hop_of[id(c)], hop_of[id(d)]
            if (
                c is not d
                and hc is not None
                and hd is not None
                and hc is not hd
                and _overlap(hc, hd)
            ):
                queued.add(id(c))
    return [c for c in out if id(c) not in queued]


def facts(trace: dict[str, Any]) -> RequestFacts:
    events = trace["events"]
    hops = [e for e in events if e["kind"] == "hop"]
    # Nested hops count here too: "nested" only says their CPU is counted in their parent's.
    s2a = [h for h in hops if h.get("direction") == "sync_to_async"]
    overheads = [h.get("overhead_ms", 0.0) for h in s2a]
    view = trace.get("view")
    windows = [e for e in events if e["kind"] == "view" and e.get("end_ms") is not None]
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
        hop_cost_ms=statistics.median(overheads) if overheads else 0.0,
        view_hop_overhead_ms=view_hop.get("overhead_ms", 0.0) if view_hop else 0.0,
        # The view's own hops: made while the view ran (older traces: by their call site).
        user_hops=[h for h in hops if any(_within(h, w) for w in windows)]
        if windows
        else [h for h in hops if _is_user_site(h.get("site"))],
        user_blocking=[b for b in blocking if _is_user_site(b.get("site"))],
        framework_blocking=[b for b in blocking if not _is_user_site(b.get("site"))],
        uncovered_lags=[
            g
            for g in lags
            if not any(
                b["start_ms"] < g["end_ms"] and g["start_ms"] < b["end_ms"] for b in blocking
            )
        ],
        exceptions=[e for e in events if e["kind"] == "exception"],
        max_queue_wait_ms=_contended_wait(s2a),
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
