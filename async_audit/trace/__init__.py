"""The per-request trace: what one request did, event by event, with times.

Start one around a request (``start_trace``/``finish_trace``, or ``traced()``), run the
request with instruments installed (``async_audit.instruments.install()``), then read it.
"""

from __future__ import annotations

from async_audit.trace.core import (
    Trace,
    current_trace,
    finish_trace,
    instrument_errors,
    start_trace,
    tag,
    traced,
)
from async_audit.trace.events import (
    BlockingCall,
    CacheCall,
    Event,
    Hop,
    HttpCall,
    LoopLag,
    Query,
)
from async_audit.trace.sql import fingerprint

__all__ = [
    "BlockingCall",
    "CacheCall",
    "Event",
    "Hop",
    "HttpCall",
    "LoopLag",
    "Query",
    "Trace",
    "current_trace",
    "fingerprint",
    "finish_trace",
    "instrument_errors",
    "start_trace",
    "tag",
    "traced",
]
