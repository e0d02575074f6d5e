"""Reading sampling back for the report: the writers' counters, and samples from a JSONL file.

The report's ``sampling`` object says how many requests were sampled, stored and dropped
(by reason), summed over every process whose writer recorded its counters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any

from async_audit.sampling.sinks import COUNTERS_KIND
from async_audit.verdicts.measured import route_matches

__all__ = ["health_from_counters", "read_file", "read_health_db"]


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value < 10**15


def _counters_row(row: Any) -> bool:
    """A writer's counters as it writes them: counts that are whole numbers, drops by reason."""
    if type(row) is not dict:
        return False
    dropped = row.get("dropped")
    return (
        _count(row.get("sampled", 0))
        and _count(row.get("stored", 0))
        and (dropped is None or type(dropped) is dict)
        and all(type(k) is str and _count(n) for k, n in (dropped or {}).items())
    )


def health_from_counters(rows: Iterable[dict[str, Any]], source: str) -> dict[str, Any]:
    """The counters summed; rows that are not counters as a writer writes them are left out
    and counted (``bad_rows``), never a traceback."""
    processes = bad = 0
    sampled = stored = 0
    dropped: dict[str, int] = {}
    hosts: set[str] = set()
    for row in rows:
        if not _counters_row(row):
            bad += 1
            continue
        processes += 1
        hosts.add(str(row.get("host", "")))
        sampled += row.get("sampled", 0)
        stored += row.get("stored", 0)
        for reason, n in (row.get("dropped") or {}).items():
            dropped[reason] = dropped.get(reason, 0) + n
    extra = {"bad_rows": bad} if bad else {}
    return {
        "source": source,
        "processes": processes,
        "hosts": len(hosts),
        "sampled": sampled,
        "stored": stored,
        "dropped": dict(sorted(dropped.items())),
        "dropped_total": sum(dropped.values()),
        **extra,
    }


def read_health_db(alias: str, since: timedelta | None = None) -> dict[str, Any] | None:
    """Summed counters from ``SamplingCounters``; ``None`` when the table is missing or empty."""
    from django.db import connections
    from django.utils import timezone

    from async_audit.models import SamplingCounters

    try:
        if SamplingCounters._meta.db_table not in connections[alias].introspection.table_names():
            return None
        rows = SamplingCounters.objects.using(alias).all()
        if since is not None:
            rows = rows.filter(updated__gte=timezone.now() - since)
        values = [dict(v) for v in rows.values("host", "sampled", "stored", "dropped")]
    except Exception:
        return None
    return health_from_counters(values, "database") if values else None


def _lines(path: str) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8", errors="replace") as f:
        yield from enumerate(f, 1)


def read_file(
    path: str,
    since: timedelta | None = None,
    route_glob: str | None = None,
    on_trace: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[str], dict[str, Any] | None]:
    """``(samples, notes, sampling health)`` from a JSON Lines file the writer appended to.

    With ``on_trace`` each sample is handed to it as it is read and the list stays empty.
    Raises ``OSError`` when the file cannot be read (the command turns it into exit 2).
    """
    from async_audit.storage import as_trace, strict_json

    cutoff = None if since is None else time.time() - since.total_seconds()
    samples: list[dict[str, Any]] = []
    counters: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    skipped = 0
    for _, line in _lines(path):
        if not line.strip():
            continue
        try:
            data = strict_json(line)
        except ValueError:
            skipped += 1  # e.g. a line cut short by a full disk, or nested past reason
            continue
        if isinstance(data, dict) and data.get("kind") == COUNTERS_KIND:
            # Absolute counts: a process's last line is its total.
            counters[(data.get("host"), data.get("pid"), data.get("boot"))] = data
            continue
        data, _ = as_trace(data)
        if data is None:
            skipped += 1
            continue
        if cutoff is not None and (data.get("started_at") or 0) < cutoff:
            continue
        if route_glob is not None and not route_matches(data.get("route") or "", route_glob):
            continue
        if on_trace is not None:
            on_trace(data)
        else:
            samples.append(data)
    notes = [f"{skipped} line(s) of {path} skipped: not a sample"] if skipped else []
    health = health_from_counters(counters.values(), "file") if counters else None
    return samples, notes, health
