"""The ``ASYNC_AUDIT`` settings dict: documented keys, defaults and validation.

Values are validated by the system checks (``async_audit.E001``/``E002``); at run time a bad
value falls back to its default so a request is never broken by a typo in settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULTS", "SETTINGS_DOC", "get", "validate"]


@dataclass(frozen=True)
class _Key:
    default: Any
    check: Callable[[Any], bool]
    doc: str


def _fraction(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0


def _non_negative(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _str(v: Any) -> bool:
    return isinstance(v, str) and bool(v)


_KEYS: dict[str, _Key] = {
    "SAMPLE_RATE": _Key(
        0.01, _fraction, "share of requests the sampling middleware traces (0.0-1.0)"
    ),
    "SAMPLE_SINK": _Key(
        "database", lambda v: v in ("database", "none"), "where samples go: 'database' or 'none'"
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
        0.5, _fraction, "I/O share of wall time above which a sync view is I/O-bound (AA305)"
    ),
    "IO_MS": _Key(
        20.0, _non_negative, "absolute I/O time above which a sync view is I/O-bound (AA305)"
    ),
    "FANOUT_MIN_CALLS": _Key(
        2, _positive_int, "sequential independent outbound calls that make a fan-out (AA306)"
    ),
    "FANOUT_MIN_MS": _Key(10.0, _non_negative, "time the overlap would save before AA306 fires"),
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
    return problems


def get(name: str) -> Any:
    """The effective value of one key: the user's if valid, else the default."""
    from django.conf import settings

    key = _KEYS[name]
    user = getattr(settings, "ASYNC_AUDIT", None)
    if isinstance(user, Mapping) and name in user and key.check(user[name]):
        return user[name]
    return key.default
