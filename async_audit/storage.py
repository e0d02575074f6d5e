"""Reading stored samples back (the sampling middleware writes them; see ``models.Sample``).

A row that is not a trace in the expected shape is skipped and counted, never fatal: one
corrupt row must not hide a week of evidence. A database that cannot be reached is a clear
one-line error for the command.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError
from django.db import connections
from django.utils import timezone

__all__ = ["is_trace", "read_samples"]


def is_trace(data: Any) -> bool:
    """The minimal shape verdicts rely on."""
    if not isinstance(data, dict):
        return False
    events = data.get("events")
    if not isinstance(events, list) or not isinstance(data.get("wall_ms"), (int, float)):
        return False
    return all(
        isinstance(e, dict)
        and isinstance(e.get("kind"), str)
        and isinstance(e.get("start_ms"), (int, float))
        and isinstance(e.get("end_ms"), (int, float, type(None)))
        and isinstance(e.get("duration_ms"), (int, float))
        for e in events
    )


def read_samples(
    alias: str,
    since: timedelta | None = None,
    route_glob: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """``(trace dicts, notes)``. Raises ``CommandError`` (exit 2) if the database is unreachable."""
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
        return [], [
            f"no stored samples: table {Sample._meta.db_table} is missing in {alias!r} (run migrate to enable sampling)"
        ]
    rows = Sample.objects.using(alias).all()
    if since is not None:
        rows = rows.filter(created__gte=timezone.now() - since)
    traces: list[dict[str, Any]] = []
    skipped = 0
    for n, (route, view, data) in enumerate(
        rows.values_list("route", "view", "data").iterator(chunk_size=500)
    ):
        if progress is not None and n % 1000 == 999:
            progress(n + 1)
        if route_glob is not None and not fnmatch.fnmatchcase(route or "", route_glob):
            continue
        if not is_trace(data):
            skipped += 1
            continue
        data.setdefault("route", route)
        data.setdefault("view", view)
        traces.append(data)
    notes = (
        [f"{skipped} stored sample(s) skipped: not a trace in the expected shape"]
        if skipped
        else []
    )
    return traces, notes
