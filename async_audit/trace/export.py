"""Turn a trace into plain, JSON-safe data (for the panel, samples and reports)."""

from __future__ import annotations

from typing import Any

from async_audit.trace.core import Trace, _ms
from async_audit.trace.events import (
    BlockingCall,
    CacheCall,
    Event,
    Hop,
    HttpCall,
    LoopLag,
    Query,
    RaisedException,
    ViewCall,
)
from async_audit.trace.sql import fingerprint

__all__ = ["event_to_dict", "trace_to_dict"]


def _offset(trace: Trace, t: float | None) -> float | None:
    return None if t is None else _ms(t - trace.t0)


def event_to_dict(trace: Trace, e: Event, private: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "kind": e.kind,
        "start_ms": _offset(trace, e.start),
        "end_ms": _offset(trace, e.end),
        "duration_ms": _ms(e.duration),
        "thread": e.thread,
        "on_loop": e.on_loop,
    }
    if isinstance(e, Hop):
        d.update(
            direction=e.direction,
            target=e.target,
            thread_sensitive=e.thread_sensitive,
            site=list(e.site) if e.site else None,
            queue_wait_ms=None if e.queue_wait is None else _ms(e.queue_wait),
            run_ms=None
            if e.run_start is None or e.run_end is None
            else _ms(e.run_end - e.run_start),
            cpu_ms=None if e.cpu is None else _ms(e.cpu),
            overhead_ms=_ms(e.overhead),
            run_thread=e.run_thread,
            nested=e.nested,
            error=e.error,
        )
    elif isinstance(e, Query):
        d.update(
            alias=e.alias,
            vendor=e.vendor,
            fingerprint=fingerprint(e.sql),
            many=e.many,
            error=e.error,
        )
        if private:
            d["sql"] = e.sql
    elif isinstance(e, HttpCall):
        d.update(
            client=e.client,
            method=e.method,
            host=e.host,
            port=e.port,
            path=e.path,
            status=e.status,
            error=e.error,
        )
    elif isinstance(e, ViewCall):
        d.update(name=e.name, is_async=e.is_async)
    elif isinstance(e, CacheCall):
        d.update(backend=e.backend, alias=e.alias, op=e.op, hit=e.hit, error=e.error)
    elif isinstance(e, (BlockingCall, LoopLag, RaisedException)):
        if isinstance(e, BlockingCall):
            d.update(call=e.call, category=e.category)
        elif isinstance(e, RaisedException):
            d.update(type=e.type_name)
            if private:
                d["message"] = e.message
        d.update(site=list(e.site) if e.site else None, stack=[list(f) for f in e.stack])
    return d


def trace_to_dict(trace: Trace, private: bool = False) -> dict[str, Any]:
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
        "events": [
            event_to_dict(trace, e, private) for e in sorted(trace.events, key=lambda e: e.start)
        ],
    }
