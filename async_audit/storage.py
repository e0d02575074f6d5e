"""Stored sample rows, parsed and checked: ``sampling.read`` reads them, the sampling
middleware writes them (see ``models.Sample``).

A row that is not a trace in the expected shape (strict JSON, every field the verdicts and
renderers read of the right type: ``async_audit.trace.validate``) is skipped and counted by
reason, never fatal: one corrupt row must not hide a week of evidence. A database that cannot be reached is a clear
one-line error for the command.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from django.core.management.base import CommandError
from django.db import connections

from async_audit.trace.compact import CompactError, expand, is_compact
from async_audit.trace.validate import validate_trace

__all__ = [
    "as_trace",
    "parse_sample",
    "sample_table_notes",
    "skipped_note",
    "strict_json",
    "validate_trace",
]


def as_trace(data: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Decoded stored JSON to ``(trace, None)`` in the dict form every reader reads (a row
    of schema 3 or 4 expanded), or ``(None, reason)``."""
    if is_compact(data):
        try:
            data = expand(data)
        except CompactError as exc:
            return None, f"not a compact trace ({exc})"
    error = validate_trace(data)
    return (None, error) if error is not None else (data, None)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str) -> Any:
    """``json.loads`` for stored text: NaN and Infinity refused, and JSON nested past
    Python's recursion limit a ``ValueError`` like any other bad text."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def parse_sample(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    """A stored row's JSON text to ``(trace, None)``, or ``(None, reason)``.

    Strict JSON only (NaN and Infinity are refused), and parsed here rather than by the
    JSONField so that one row nested a thousand deep costs that row, not the whole read.
    """
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw).decode("utf-8", "replace")
    if not isinstance(raw, str):
        return None, "not JSON text"
    try:
        data = strict_json(raw)
    except ValueError as exc:  # also huge integers past Python's digit limit
        return None, f"not strict JSON ({str(exc).splitlines()[0][:60]})"
    return as_trace(data)


def sample_table_notes(alias: str) -> list[str] | None:
    """``None`` if the samples table is there to read; else why there is nothing to read.
    Raises ``CommandError`` (exit 2) if the database cannot be reached."""
    from async_audit.models import Sample

    if alias not in connections:
        raise CommandError(f"database alias {alias!r} is not in DATABASES", returncode=2)
    connection = connections[alias]
    try:
        tables = connection.introspection.table_names()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CommandError(
            f"cannot read samples from database {alias!r}: {first} (use --no-samples to skip)",
            returncode=2,
        ) from exc
    if Sample._meta.db_table not in tables:
        return [
            f"no stored samples: table {Sample._meta.db_table} is missing in {alias!r} (run migrate to enable sampling)"
        ]
    return None


def skipped_note(reasons: Counter[str]) -> str:
    """One line for rows that are not a trace in the expected shape, by reason."""
    skipped = sum(reasons.values())
    top = "; ".join(f"{count}: {why}" for why, count in reasons.most_common(3))
    more = f"; {len(reasons) - 3} other reason(s)" if len(reasons) > 3 else ""
    return f"{skipped} stored sample(s) skipped: not a trace in the expected shape ({top}{more})"
