"""The ``ASYNC_AUDIT`` settings dict: documented keys, defaults and validation.

Values are validated by the system checks (``async_audit.E001``/``E002``); at run time a bad
value falls back to its default so a request is never broken by a typo in settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULTS", "MIN_SAMPLE_RATE", "SETTINGS_DOC", "get", "validate"]


@dataclass(frozen=True)
class _Key:
    default: Any
    check: Callable[[Any], bool]
    doc: str


def _fraction(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0


# One request in a million: below that a sample would stand for so many requests that the
# traffic it implies means nothing (and the capacity model's loads blow up).
MIN_SAMPLE_RATE = 1e-6


def _rate(v: Any) -> bool:
    return _fraction(v) and (v == 0 or v >= MIN_SAMPLE_RATE)


def _non_negative(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _str(v: Any) -> bool:
    return isinstance(v, str) and bool(v)


def _str_or_none(v: Any) -> bool:
    return v is None or _str(v)


def _globs(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and all(_str(g) for g in v)


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


_KEYS: dict[str, _Key] = {
    "SAMPLE_RATE": _Key(
        0.01, _rate, "share of requests the sampling middleware traces (0, or 1e-06 to 1.0)"
    ),
    "SAMPLE_SINK": _Key(
        "database",
        lambda v: v in ("database", "file", "none"),
        "where samples go: 'database', 'file' (JSON Lines at SAMPLE_FILE) or 'none'",
    ),
    "SAMPLE_FILE": _Key(
        None, _str_or_none, "path of the JSON Lines file samples go to with SAMPLE_SINK='file'"
    ),
    "SAMPLE_INCLUDE_ROUTES": _Key(
        [], _globs, "globs over route patterns: when set, only matching routes are sampled"
    ),
    "SAMPLE_EXCLUDE_ROUTES": _Key(
        [], _globs, "globs over route patterns that are never sampled (e.g. 'health/')"
    ),
    "SAMPLER": _Key(
        None,
        _str_or_none,
        "dotted path of a callable(request) returning a bool or a rate, called per request",
    ),
    "SAMPLE_FORCE_HEADER": _Key(
        True,
        lambda v: isinstance(v, bool),
        "accept X-Async-Audit-Sample tokens (signed with SECRET_KEY) that force a sample",
    ),
    "SAMPLE_QUEUE_SIZE": _Key(
        1000, _positive_int, "samples waiting for the writer; more are dropped (queue_full)"
    ),
    "SAMPLE_BATCH_SIZE": _Key(200, _positive_int, "samples the writer inserts per batch"),
    "SAMPLE_FLUSH_SECONDS": _Key(
        2.0, _positive, "how often the writer flushes its queue and its counters"
    ),
    "PRUNE_FROM_WRITER": _Key(
        True,
        lambda v: isinstance(v, bool),
        "let the writer delete samples older than RETENTION_DAYS (hourly, in bounded batches)",
    ),
    "SAMPLE_DB_ALIAS": _Key("default", _str, "database alias that stores samples"),
    "RETENTION_DAYS": _Key(7, _positive_int, "days stored samples are kept"),
    "MAX_EVENTS_PER_TRACE": _Key(
        5000, _positive_int, "events kept per trace; more are counted as dropped"
    ),
    "LOOP_LAG_MS": _Key(50.0, _non_negative, "event loop stall that the watchdog records (AA302)"),
    "WATCHDOG_INTERVAL_MS": _Key(10.0, _non_negative, "how often the watchdog checks the loop"),
    "BLOCKING_MIN_MS": _Key(
        0.0, _non_negative, "on-loop blocking calls shorter than this are ignored"
    ),
    "HOPS_PER_REQUEST": _Key(20, _positive_int, "hops per request above which AA303 fires"),
    "HOP_SHARE": _Key(0.3, _fraction, "share of wall time in hops above which AA303 fires"),
    "QUEUE_WAIT_MS": _Key(5.0, _non_negative, "hop queue wait above which AA304 fires"),
    "IO_SHARE": _Key(
        0.5, _fraction, "I/O share of CPU + I/O time above which a sync view is I/O-bound (AA305)"
    ),
    "IO_MS": _Key(
        20.0, _non_negative, "absolute I/O time above which a sync view is I/O-bound (AA305)"
    ),
    "FANOUT_MIN_CALLS": _Key(
        2, _positive_int, "sequential independent outbound calls that make a fan-out (AA306)"
    ),
    "FANOUT_MIN_MS": _Key(10.0, _non_negative, "time the overlap would save before AA306 fires"),
    "CHECKS": _Key(
        "errors",
        lambda v: v in ("errors", "all"),
        "static-audit findings that manage.py check reports: 'errors' or 'all'",
    ),
    # The capacity plan's objective (async_audit/verdicts/capacity.py).
    "CAPACITY_WAIT_MS": _Key(
        50.0, _non_negative, "capacity plan: queue wait allowed at CAPACITY_PERCENTILE (ms)"
    ),
    "CAPACITY_PERCENTILE": _Key(
        0.95,
        lambda v: _fraction(v) and 0.0 < v < 1.0,
        "capacity plan: share of requests that must wait at most CAPACITY_WAIT_MS (0-1)",
    ),
    "CAPACITY_MAX_LOOP_LOAD": _Key(
        0.6,
        lambda v: _fraction(v) and v > 0.0,
        "capacity plan: share of a CPU an ASGI process's event loop may be busy (0-1)",
    ),
    "CAPACITY_THREADS": _Key(
        1, _positive_int, "capacity plan: threads per WSGI process (gunicorn --threads)"
    ),
    "CAPACITY_PEAK_INTERVAL_S": _Key(
        60.0,
        lambda v: _non_negative(v) and v > 0,
        "capacity plan: interval (s) over which the busiest sampled traffic is the peak",
    ),
}

DEFAULTS: dict[str, Any] = {name: key.default for name, key in _KEYS.items()}
SETTINGS_DOC: dict[str, str] = {name: key.doc for name, key in _KEYS.items()}


def validate(value: object) -> list[tuple[str, str]]:
    """``(check id, message)`` per problem in an ``ASYNC_AUDIT`` value; empty when fine.

    E001: not a dict or an unknown key (a typo would otherwise be silently ignored);
    E002: a known key with a bad value.
    """
    if not isinstance(value, Mapping):
        return [("async_audit.E001", f"ASYNC_AUDIT must be a dict, not {type(value).__name__}.")]
    problems = []
    for name, v in value.items():
        key = _KEYS.get(name)
        if key is None:
            known = ", ".join(sorted(_KEYS))
            problems.append(
                (
                    "async_audit.E001",
                    f"ASYNC_AUDIT has an unknown key {name!r}; known keys: {known}.",
                )
            )
        elif not key.check(v):
            problems.append(
                ("async_audit.E002", f"ASYNC_AUDIT[{name!r}] = {v!r} is invalid: {key.doc}.")
            )
    if value.get("SAMPLE_SINK") == "file" and not value.get("SAMPLE_FILE"):
        problems.append(
            (
                "async_audit.E002",
                "ASYNC_AUDIT['SAMPLE_SINK'] = 'file' needs ASYNC_AUDIT['SAMPLE_FILE'], the path "
                "of the JSON Lines file samples go to.",
            )
        )
    sampler = value.get("SAMPLER")
    if isinstance(sampler, str) and sampler:
        from django.utils.module_loading import import_string

        try:
            import_string(sampler)
        except ImportError as exc:
            problems.append(
                (
                    "async_audit.E002",
                    f"ASYNC_AUDIT['SAMPLER'] = {sampler!r} cannot be imported: {exc}.",
                )
            )
    return problems


def get(name: str) -> Any:
    """The effective value of one key: the user's if valid, else the default."""
    from django.conf import settings

    key = _KEYS[name]
    user = getattr(settings, "ASYNC_AUDIT", None)
    if isinstance(user, Mapping) and name in user and key.check(user[name]):
        return user[name]
    return key.default
