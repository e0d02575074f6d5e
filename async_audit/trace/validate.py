"""Is this dict a trace that verdicts, the timeline and the renderers can read safely?

``validate_trace(data)`` checks every field they read, with its type, and returns ``None``
for a good trace or a one-line reason for a bad one. Stored samples come from a database
the audit does not control (older versions, hand edits, other writers): a wrong type must
cost one skipped row, never a traceback in the report.

Explicit checks rather than a schema library: it runs once per stored row, and a few
``isinstance`` calls per event keep a week of samples quick to read. Numbers must be
finite and of a sane size (no NaN, no Infinity, no 10**400), so that every figure the
report derives from them is finite too and its JSON stays strict.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from async_audit.conf import MIN_SAMPLE_RATE

__all__ = ["validate_trace"]

# Far beyond any real millisecond count or id, far below where float arithmetic misbehaves.
_LIMIT = 1e15


def _number(value: Any) -> bool:
    if type(value) is float:
        return math.isfinite(value) and -_LIMIT < value < _LIMIT
    return type(value) is int and -_LIMIT < value < _LIMIT  # bool is no number here


def _duration(value: Any) -> bool:
    return _number(value) and value >= 0


def _opt(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _str(value: Any) -> bool:
    return type(value) is str


def _bool(value: Any) -> bool:
    return type(value) is bool


def _int(value: Any) -> bool:
    return type(value) is int and -_LIMIT < value < _LIMIT


def _rate(value: Any) -> bool:
    # 0: forced at rate 0 (a forced sample stands for no traffic).
    return _number(value) and (value == 0 or MIN_SAMPLE_RATE <= value <= 1)


def _frame(value: Any) -> bool:
    return (
        type(value) is list
        and len(value) == 3
        and type(value[0]) is str
        and _int(value[1])
        and type(value[2]) is str
    )


def _stack(value: Any) -> bool:
    return type(value) is list and all(_frame(f) for f in value)


def _scalar(value: Any) -> bool:
    return value is None or _str(value) or _bool(value) or _number(value)


def _flat(value: Any) -> bool:
    """A dict of plain values or lists of them: nothing deeper to walk or to print."""
    return type(value) is dict and all(
        type(k) is str and (_scalar(v) or (type(v) is list and all(_scalar(x) for x in v)))
        for k, v in value.items()
    )


# The summary's figures that readers do arithmetic on (``Trace.summary()``).
_SUMMARY_NUMBERS = ("hops", "hop_ms", "hop_total_ms", "hop_queue_wait_ms", "hop_queue_wait_max_ms",
                    "queries", "db_ms", "http_calls", "http_ms", "cache_calls", "cache_ms",
                    "blocking_calls", "blocking_ms", "loop_lags", "dropped_events",
                    "instrument_errors")  # fmt: skip


def _summary(value: Any) -> bool:
    return _flat(value) and all(_duration(value[k]) for k in _SUMMARY_NUMBERS if k in value)


_opt_duration, _opt_str, _opt_bool, _opt_int, _opt_frame = (
    _opt(_duration),
    _opt(_str),
    _opt(_bool),
    _opt(_int),
    _opt(_frame),
)

# Per event kind: the fields read downstream, checked when present (and _REQUIRED ones must
# be); a field read with ``.get(name, default)`` and then used must not be null either.
_FIELDS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "hop": {"direction": _opt_str, "target": _str, "site": _opt_frame,
            "queue_wait_ms": _opt_duration, "run_ms": _opt_duration, "overhead_ms": _duration,
            "cpu_ms": _opt_duration, "run_thread": _opt_int, "nested": _opt_bool,
            "thread_sensitive": _opt_bool},
    "query": {"alias": _opt_str, "vendor": _opt_str, "fingerprint": _opt_str, "many": _opt_bool},
    "http": {"client": _opt_str, "method": _str, "host": _str, "port": _opt_int, "path": _str,
             "status": _opt_int},
    "cache": {"backend": _opt_str, "alias": _opt_str, "op": _opt_str, "hit": _opt_bool},
    "blocking": {"call": _str, "category": _opt_str, "site": _opt_frame, "stack": _opt(_stack)},
    "loop_lag": {"site": _opt_frame, "stack": _opt(_stack), "cpu_ms": _opt_duration,
                 "queued_ms": _opt_duration},
    "exception": {"type": _str, "site": _opt_frame, "stack": _opt(_stack)},
    "view": {"name": _opt_str, "is_async": _opt_bool},
}  # fmt: skip
# Fields the verdicts index directly (``e["call"]``), so they must be present.
_REQUIRED = {"blocking": ("call",), "http": ("method", "host", "path")}

_TRACE_FIELDS: dict[str, Callable[[Any], bool]] = {
    "cpu_ms": _opt_duration,
    "owner_cpu_ms": _opt_duration,
    "route": _opt_str,
    "view": _opt_str,
    "label": _opt_str,
    "view_is_async": _opt_bool,
    "status": _opt_int,
    "tags": _opt(_flat),
    "summary": _summary,
    # What a stored sample adds (``sampling.record``): its arrival, its origin, its rate.
    "started_at": _opt(_number),
    "sample_rate": _opt(_rate),
    "forced": _opt(_bool),
    "method": _opt(_str),
    "host": _opt(_str),
    "pid": _opt(_int),
}


def _event_error(e: Any) -> str | None:
    if type(e) is not dict:
        return "is not an object"
    kind = e.get("kind")
    if type(kind) is not str:
        return "has no kind"
    if not _number(e.get("start_ms")):
        return "start_ms is not a finite number"
    end = e.get("end_ms")
    if end is not None and not (_number(end) and end >= e["start_ms"]):
        return "end_ms is not a finite number at or after start_ms"
    if not _duration(e.get("duration_ms")):
        return "duration_ms is not a finite number >= 0"
    for name in _REQUIRED.get(kind, ()):
        if name not in e:
            return f"has no {name}"
    for name, check in _FIELDS.get(kind, {}).items():
        if name in e and not check(e[name]):
            return f"{name} has the wrong type ({type(e[name]).__name__})"
    return None


def validate_trace(data: Any) -> str | None:
    """``None`` if ``data`` is a trace every reader can use, else a one-line reason."""
    if type(data) is not dict:
        return f"not an object ({type(data).__name__})"
    if not _duration(data.get("wall_ms")):
        return "wall_ms is not a finite number >= 0"
    for name, check in _TRACE_FIELDS.items():
        if name in data and not check(data[name]):
            return f"{name} has the wrong type ({type(data[name]).__name__})"
    events = data.get("events")
    if type(events) is not list:
        return "events is not a list"
    for i, e in enumerate(events):
        error = _event_error(e)
        if error is not None:
            return f"events[{i}] {error}"
    return None
