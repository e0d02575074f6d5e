"""Turn a trace into plain, JSON-safe data (for the panel, samples and reports)."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from async_audit.trace.core import Trace, _ms
from async_audit.trace.events import (
    BlockingCall,
    CacheCall,
    Event,
    Frame,
    Hop,
    HttpCall,
    LoopLag,
    Query,
    RaisedException,
    ViewCall,
)
from async_audit.trace.sql import fingerprint

__all__ = ["event_to_dict", "trace_to_dict"]


def _site(site: Frame | None) -> list[Any] | None:
    return list(site) if site else None


# Exporting runs for every stored sample, so each kind has its own function that reads
# every field once; no isinstance chain, no properties computed twice.
def _hop(e: Hop, t0: float, private: bool) -> dict[str, Any]:
    start, end, run_start, run_end = e.start, e.end, e.run_start, e.run_end
    duration = 0.0 if end is None else max(0.0, end - start)
    if run_start is None or run_end is None:
        run_ms = None
        overhead = duration if e.direction == "sync_to_async" else 0.0
    else:
        run_ms = _ms(run_end - run_start)
        overhead = max(0.0, duration - (run_end - run_start))
    cpu, site = e.cpu, e.site
    return {
        "kind": "hop",
        "start_ms": _ms(start - t0),
        "end_ms": None if end is None else _ms(end - t0),
        "duration_ms": _ms(duration),
        "thread": e.thread,
        "on_loop": e.on_loop,
        "direction": e.direction,
        "target": e.target,
        "thread_sensitive": e.thread_sensitive,
        "site": list(site) if site else None,
        "queue_wait_ms": None if run_start is None else _ms(max(0.0, run_start - start)),
        "run_ms": run_ms,
        "cpu_ms": None if cpu is None else _ms(cpu),
        "overhead_ms": _ms(overhead),
        "run_thread": e.run_thread,
        "nested": e.nested,
        "error": e.error,
    }


def _common(e: Event, t0: float) -> dict[str, Any]:
    start, end = e.start, e.end
    return {
        "kind": e.kind,
        "start_ms": _ms(start - t0),
        "end_ms": None if end is None else _ms(end - t0),
        "duration_ms": 0.0 if end is None else _ms(max(0.0, end - start)),
        "thread": e.thread,
        "on_loop": e.on_loop,
    }


def _query(e: Query, t0: float, private: bool) -> dict[str, Any]:
    d = _common(e, t0)
    d["alias"] = e.alias
    d["vendor"] = e.vendor
    d["fingerprint"] = fingerprint(e.sql)
    d["many"] = e.many
    d["error"] = e.error
    if private:
        d["sql"] = e.sql
    return d


def _http(e: HttpCall, t0: float, private: bool) -> dict[str, Any]:
    d = _common(e, t0)
    d.update(
        client=e.client,
        method=e.method,
        host=e.host,
        port=e.port,
        path=e.path,
        status=e.status,
        error=e.error,
    )
    return d


def _view(e: ViewCall, t0: float, private: bool) -> dict[str, Any]:
    d = _common(e, t0)
    d["name"] = e.name
    d["is_async"] = e.is_async
    return d


def _cache(e: CacheCall, t0: float, private: bool) -> dict[str, Any]:
    d = _common(e, t0)
    d.update(backend=e.backend, alias=e.alias, op=e.op, hit=e.hit, error=e.error)
    return d


def _stacked(
    e: BlockingCall | LoopLag | RaisedException, t0: float, private: bool
) -> dict[str, Any]:
    d = _common(e, t0)
    if isinstance(e, BlockingCall):
        d.update(call=e.call, category=e.category)
    elif isinstance(e, LoopLag):
        d.update(
            cpu_ms=None if e.cpu is None else _ms(e.cpu),
            queued_ms=None if e.queued is None else _ms(e.queued),
        )
    elif isinstance(e, RaisedException):
        d.update(type=e.type_name)
        if private:
            d["message"] = e.message
    d.update(site=_site(e.site), stack=[list(f) for f in e.stack])
    return d


_EXPORTERS: dict[type[Event], Callable[[Any, float, bool], dict[str, Any]]] = {
    Hop: _hop,
    Query: _query,
    HttpCall: _http,
    ViewCall: _view,
    CacheCall: _cache,
    BlockingCall: _stacked,
    LoopLag: _stacked,
    RaisedException: _stacked,
}


def event_to_dict(trace: Trace, e: Event, private: bool = False) -> dict[str, Any]:
    exporter = _EXPORTERS.get(type(e))
    if exporter is None:  # a subclass, or an event kind this module does not know
        for cls, candidate in _EXPORTERS.items():
            if isinstance(e, cls):
                return candidate(e, trace.t0, private)
        return _common(e, trace.t0)
    return exporter(e, trace.t0, private)


_by_start = attrgetter("start")


def trace_to_dict(trace: Trace, private: bool = False) -> dict[str, Any]:
    t0 = trace.t0
    events = trace.events
    # Events are appended when they end, so nearly in start order: sorting is cheap.
    ordered = sorted(events, key=_by_start)
    get = _EXPORTERS.get
    exported = []
    for e in ordered:
        exporter = get(type(e))
        exported.append(
            exporter(e, t0, private) if exporter is not None else event_to_dict(trace, e, private)
        )
    return {
        "id": trace.id,
        "label": trace.label,
        "started_at": trace.started_at,
        "wall_ms": _ms(trace.wall),
        "cpu_ms": _ms(trace.cpu),
        "owner_cpu_ms": None if trace.owner_cpu is None else _ms(trace.owner_cpu),
        "shared_thread": trace.shared_thread,
        "route": trace.route,
        "view": trace.view,
        "view_is_async": trace.view_is_async,
        "status": trace.status,
        "tags": dict(trace.tags),
        "summary": trace.summary(),
        "events": exported,
    }
