"""From the traces of one route to its findings and verdict (AA301-AA308).

Pure functions: no Django request machinery, no I/O. Decisions about the route's shape
(I/O-bound, fan-out, keep sync, hop-heavy) use the median request; events that must not
happen at all (a blocking call on the loop, SynchronousOnlyOperation) fire on any request.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from async_audit.findings import Finding, display_path
from async_audit.verdicts.figures import percentile, request_row, route_figures
from async_audit.verdicts.measured import route_key
from async_audit.verdicts.request import RequestFacts, facts
from async_audit.verdicts.thresholds import Thresholds
from async_audit.verdicts.timeline import union_ms

__all__ = ["VERDICTS", "RouteVerdict", "judge_route", "percentile", "with_figures"]

VERDICTS = ("fix-first", "async-candidate", "hop-heavy", "keep-sync", "ok")

_FIXES = {
    "time.sleep": "await asyncio.sleep(...)",
    "socket": "an async client (httpx.AsyncClient, aiohttp, redis.asyncio)",
    "dns": "an async client, which resolves names off the loop",
    "file": "await asyncio.to_thread(...) or sync_to_async around the file work",
    "sqlite": "the ORM's async methods (aget, acount, ...)",
    "subprocess": "asyncio.create_subprocess_exec(...)",
    "lock": "an asyncio primitive, or sync_to_async around the waiting code",
    "thread": "sync_to_async (which reuses the request's thread)",
}


@dataclass
class RouteVerdict:
    route: str | None
    view: str | None
    is_async: bool | None
    verdict: str
    findings: list[Finding] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    # The key its traces were grouped by (``route_key``): for a request no URL pattern named
    # it is the view or the label, which the figures (route None) cannot give back.
    key: str = "?"


def _med(items: Sequence[RequestFacts], get: Callable[[RequestFacts], float]) -> float:
    return float(statistics.median(get(f) for f in items)) if items else 0.0


def _where(site: Any) -> str:
    if not site:
        return "an unknown place"
    return f"{display_path(str(site[0]))}:{site[1]} ({site[2]})"


def _stall_ms(lag: dict[str, Any]) -> float:
    """A stall's own length: its time waiting for a CPU (a busy machine) taken off."""
    return max(0.0, float(lag["duration_ms"]) - float(lag.get("queued_ms") or 0.0))


def _span(event: dict[str, Any]) -> tuple[float, float]:
    start = float(event["start_ms"])
    end = event.get("end_ms")
    return start, start + float(event["duration_ms"]) if end is None else float(end)


def _r(x: float) -> float:
    return round(x, 2)


def judge_route(
    traces: Sequence[dict[str, Any]],
    th: Thresholds | None = None,
    facts_of: Callable[[dict[str, Any]], RequestFacts] = facts,
) -> RouteVerdict:
    th = th or Thresholds()
    all_facts = [facts_of(t) for t in traces]
    first = traces[0] if traces else {}
    route, view = first.get("route"), first.get("view")
    is_async = first.get("view_is_async")
    target = view or (route if route is not None else "?")
    out: list[Finding] = []

    def add(code: str, severity: Any, message: str, evidence: dict[str, Any]) -> None:
        out.append(Finding(code, severity, target, message, evidence, route=route, view=view))

    n = len(all_facts)
    wall = _med(all_facts, lambda f: f.breakdown.wall_ms)
    io = _med(all_facts, lambda f: f.breakdown.io_ms)
    cpu = _med(all_facts, lambda f: f.breakdown.cpu_ms)
    awaitable = _med(all_facts, lambda f: f.awaitable_io_ms)
    hop_ms = _med(all_facts, lambda f: f.breakdown.hop_ms)
    hops = _med(all_facts, lambda f: f.breakdown.hops)
    predicted = [f.predicted_async_ms for f in all_facts if f.predicted_async_ms is not None]
    predicted_ms = float(statistics.median(predicted)) if predicted else None

    # -- must-never-happen events, on any request ---------------------------------------
    # One finding per place in the code: a requests.get shows up as connect + send + recv.
    blocking: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for f in all_facts:
        for b in f.user_blocking:
            blocking.setdefault(tuple(b.get("site") or ()), []).append(b)
    for site, calls in sorted(
        blocking.items(), key=lambda kv: -sum(b["duration_ms"] for b in kv[1])
    ):
        names = sorted(
            {b["call"] for b in calls},
            key=lambda c: -sum(b["duration_ms"] for b in calls if b["call"] == c),
        )
        worst = max(calls, key=lambda b: b["duration_ms"])
        per_request = sum(b["duration_ms"] for b in calls) / n
        fix = _FIXES.get(names[0]) or _FIXES.get(
            worst.get("category", ""), "an async equivalent or sync_to_async"
        )
        add(
            "AA301",
            "error",
            f"{', '.join(names)} blocked the event loop for {per_request:.1f} ms per request at {_where(site)}: "
            f"every other request on this worker waited. Use {fix}.",
            {"calls": names, "category": worst.get("category"), "duration_ms": _r(per_request),
             "longest_ms": worst["duration_ms"], "occurrences": len(calls), "requests": n, "site": list(site) or None,
             "stack": worst.get("stack", [])},
        )  # fmt: skip
    lags = [g for f in all_facts for g in f.uncovered_lags if _stall_ms(g) >= th.loop_lag_ms]
    if lags:
        worst = max(lags, key=_stall_ms)
        stalled, cpu_ms = _stall_ms(worst), worst.get("cpu_ms")
        what = (
            "something no patch could name (C-extension I/O, a lock, long CPU work)"
            if cpu_ms is None
            else f"{cpu_ms:.0f} ms of CPU work and {max(0.0, stalled - cpu_ms):.0f} ms blocked in a call no patch "
            f"could name (C-extension I/O, a lock)"
        )
        add(
            "AA302",
            "warning",
            f"the event loop stalled {stalled:.0f} ms (sampled at {_where(worst.get('site'))}) on {what}: move "
            f"it off the loop with sync_to_async or asyncio.to_thread.",
            {"duration_ms": _r(stalled), "cpu_ms": cpu_ms, "queued_ms": worst.get("queued_ms"),
             "occurrences": len(lags), "requests": n, "site": worst.get("site"), "stack": worst.get("stack", [])},
        )  # fmt: skip
    sync_only = [
        e
        for f in all_facts
        for e in f.exceptions
        if e.get("type", "").endswith("SynchronousOnlyOperation")
    ]
    if sync_only:
        e = sync_only[0]
        add(
            "AA308",
            "error",
            f"SynchronousOnlyOperation raised at {_where(e.get('site'))}: sync ORM (or another async-unsafe call) "
            f"from async code. Use the ORM's async methods (aget, acount, asave, ...) or wrap the work in "
            f"sync_to_async.",
            {
                "occurrences": len(sync_only),
                "requests": n,
                "site": e.get("site"),
                "stack": e.get("stack", []),
            },
        )

    # -- the route's shape, from the median request ---------------------------------------
    serial_calls = _med(all_facts, lambda f: len(f.serial_http))
    saving = _med(all_facts, lambda f: f.fanout_saving_ms)
    if serial_calls >= th.fanout_min_calls and saving >= th.fanout_min_ms:
        sample = max(all_facts, key=lambda f: len(f.serial_http)).serial_http
        calls = [{"method": c["method"], "host": c["host"], "path": c["path"], "duration_ms": c["duration_ms"]}
                 for c in sample]  # fmt: skip
        longest = max(c["duration_ms"] for c in sample)
        fanout_pred = max(0.0, wall - saving)
        hosts = ", ".join(sorted({c["host"] for c in sample}))
        add(
            "AA306",
            "warning",
            f"{len(sample)} outbound calls to {hosts} run one after another ({sum(c['duration_ms'] for c in sample):.0f} ms); "
            f"if they do not depend on each other, gather them (asyncio.gather with httpx.AsyncClient"
            f"{' in an async view' if is_async is False else ''}): ~{fanout_pred:.0f} ms instead of {wall:.0f} ms "
            f"(the longest call is {longest:.0f} ms).",
            {"calls": calls, "serial_ms": _r(sum(c["duration_ms"] for c in sample)), "longest_ms": _r(longest),
             "wall_ms": _r(wall), "predicted_ms": _r(fanout_pred), "predicted_async_ms": _r(predicted_ms or fanout_pred)},
        )  # fmt: skip
    # Shares are of the time accounted for (CPU and I/O seen), not of wall time: on a busy
    # machine wall time grows with waits for a CPU while CPU and I/O stay, and a verdict
    # must not change with the machine's load.
    accounted = cpu + io
    io_bound = (
        is_async is False
        and awaitable >= th.io_ms
        and accounted > 0
        and awaitable / accounted >= th.io_share
    )
    if io_bound:
        add(
            "AA305",
            "warning",
            f"sync view waiting on I/O {awaitable:.0f} of {wall:.0f} ms ({awaitable / accounted:.0%} of the time spent "
            f"on the CPU or in I/O): rewritten async "
            f"(async def, an async HTTP client such as httpx.AsyncClient, a* ORM methods) it would take "
            f"~{predicted_ms or wall:.0f} ms and stop holding a worker thread for {awaitable:.0f} ms per request.",
            {"io_ms": _r(io), "awaitable_io_ms": _r(awaitable), "cpu_ms": _r(cpu), "hop_ms": _r(hop_ms),
             "wall_ms": _r(wall), "predicted_async_ms": _r(predicted_ms or wall),
             "worker_ms_freed": _r(awaitable), "io_by_kind": all_facts[0].breakdown.io_by_kind if n else {}},
        )  # fmt: skip
    user_hops = _med(all_facts, lambda f: len(f.user_hops))
    # Gathered hops overlap: their union is the time spent inside hops, never over 100%.
    user_hop_share = _med(
        all_facts,
        lambda f: (
            min(1.0, union_ms(_span(h) for h in f.user_hops) / f.breakdown.wall_ms)
            if f.breakdown.wall_ms > 0
            else 0.0
        ),
    )
    if hops > th.hops_per_request or (
        is_async and user_hops >= 2 and user_hop_share >= th.hop_share
    ):
        add(
            "AA303",
            "warning",
            f"{hops:.0f} thread hops per request ({user_hops:.0f} made by the view, {user_hop_share:.0%} of the wall "
            f"time inside them): "
            + (
                "this async view is a sync view paying extra: make it sync, or do its sync work in one "
                "sync_to_async call, or cut the calls (one aget with select_related instead of several)."
                if is_async
                else "make the middleware that hop dual-mode (see AA101/AA102) so requests stop paying them."
            ),
            {"hops": hops, "view_hops": user_hops, "hop_ms": _r(hop_ms), "view_hop_share": _r(user_hop_share),
             "wall_ms": _r(wall)},
        )  # fmt: skip
    queue_wait = _med(all_facts, lambda f: f.max_queue_wait_ms)
    if queue_wait >= th.queue_wait_ms:
        add(
            "AA304",
            "warning",
            f"hops waited up to {queue_wait:.1f} ms for the request's thread: thread-sensitive sync_to_async calls "
            f"of one request run one at a time, so gathering them does not overlap them. Use "
            f"sync_to_async(..., thread_sensitive=False) for thread-safe work, or do it in one sync function.",
            {"max_queue_wait_ms": _r(queue_wait), "wall_ms": _r(wall)},
        )
    cpu_bound = cpu >= th.cpu_ms and cpu / accounted >= th.cpu_share
    if is_async is False and not io_bound and not any(f.code == "AA306" for f in out):
        reason = (
            f"CPU-bound ({cpu:.0f} ms on the CPU against {io:.0f} ms of I/O): async would run the same work on the "
            f"event loop"
            if cpu_bound
            else f"little to wait for ({awaitable:.0f} ms of awaitable I/O, {io:.0f} ms of I/O in all, "
            f"{_med(all_facts, lambda f: f.queries):.0f} queries): as an async view each ORM call becomes a hop"
        )
        add(
            "AA307",
            "info",
            f"keep it sync: {reason}; predicted ~{predicted_ms or wall:.0f} ms async vs {wall:.0f} ms now.",
            {"cpu_ms": _r(cpu), "io_ms": _r(io), "wall_ms": _r(wall), "predicted_async_ms": _r(predicted_ms or wall),
             "cpu_bound": cpu_bound},
        )  # fmt: skip

    codes = {f.code for f in out}
    if any(f.severity == "error" for f in out) or "AA302" in codes:
        verdict = "fix-first"  # a stalled loop stalls every request on the worker
    elif codes & {"AA305", "AA306"}:
        verdict = "async-candidate"
    elif codes & {"AA303", "AA304"}:
        verdict = "hop-heavy"
    elif "AA307" in codes:
        verdict = "keep-sync"
    else:
        verdict = "ok"
    return RouteVerdict(
        route, view, is_async, verdict, out, with_figures(route, view, verdict, is_async,
                                                          route_figures(map(request_row, all_facts))),
        route_key(first) if traces else "?",
    )  # fmt: skip


def with_figures(
    route: str | None,
    view: str | None,
    verdict: str,
    is_async: bool | None,
    figures: dict[str, Any],
) -> dict[str, Any]:
    """A ``routes`` entry: who, the verdict, and ``route_figures`` (in the report's key order)."""
    head = (
        "samples",
        "p50_ms",
        "p95_ms",
        "io_ms",
        "cpu_ms",
        "io_share",
        "hops",
        "hop_ms",
        "blocking_calls",
    )
    return {
        "route": route,
        "view": view,
        **{k: figures[k] for k in head},
        "verdict": verdict,
        "is_async": is_async,
        **{k: v for k, v in figures.items() if k not in head},
    }  # fmt: skip
