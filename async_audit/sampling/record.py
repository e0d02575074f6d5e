"""From a finished trace to what is stored: compact, privacy-safe, and self-describing.

The export is ``Trace.to_dict(private=False)`` (SQL fingerprints, no exception messages),
then scrubbed further for storage: the label (it holds the raw path) becomes ``"METHOD
route"``, outbound calls keep their host and lose their path. Query strings, bodies,
headers and cookies never enter a trace in the first place.

``row_fields(record)`` is the one place that turns a record into ``Sample`` columns: a column
computed at write time is added there (and in the model), nowhere else. Since schema 2 it
also computes what the report needs of the sample (``sample_columns``), in the writer
thread, so that reading a week of samples is an aggregate over columns.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from typing import Any

from async_audit.trace.core import Trace

__all__ = ["HOST", "SCHEMA", "make_record", "row_fields", "sample_columns"]

# 1: the trace only. 2: plus the figure columns (``sample_columns``).
SCHEMA = 2
HOST = socket.gethostname()[:255]


def make_record(trace: Trace, method: str, rate: float, forced: bool) -> dict[str, Any]:
    """The JSON-safe sample of one request (runs in the writer thread, off the request)."""
    d = trace.to_dict(private=False)
    d["label"] = f"{method} {d['route']}"
    for e in d["events"]:
        if e["kind"] == "http":
            e["path"] = ""  # host only: a path can carry ids and tokens
    d.update(
        method=method,
        host=HOST,
        pid=os.getpid(),
        sample_rate=rate,
        forced=forced,
        schema=SCHEMA,
    )
    return d


def sample_columns(record: dict[str, Any]) -> dict[str, Any]:
    """What the report reads of one sample, without its trace: the figures of
    ``request_row``, whether the view made the response, whether the trace holds evidence
    that must be reported (its stacks are read from the trace), and its arrival."""
    from async_audit.sampling.aggregate import has_evidence
    from async_audit.verdicts import facts, sample_reason
    from async_audit.verdicts.figures import request_row

    return {
        **request_row(facts(record)),
        "started_at": record.get("started_at"),
        "forced": bool(record.get("forced")),
        "measured": sample_reason(record) is None,
        "evidence": has_evidence(record),
        "dropped_events": int((record.get("summary") or {}).get("dropped_events") or 0),
    }


def row_fields(record: dict[str, Any]) -> dict[str, Any]:
    """``Sample`` column values for a record (``schema`` 2: with ``sample_columns``)."""
    from async_audit.verdicts import route_key

    columns = sample_columns(record)
    del columns["wall_ms"]  # the record's own wall_ms is the column already
    return {
        **columns,
        "created": datetime.fromtimestamp(record["started_at"], tz=timezone.utc),
        # The key the report groups by: the route, else (unresolved) the view or label.
        "route": route_key(record)[:400],
        "view": (record["view"] or "")[:400],
        "method": record["method"][:10],
        "status": record["status"],
        "wall_ms": record["wall_ms"],
        "schema": record["schema"],
        "data": record,
        "host": record["host"],
        "pid": record["pid"],
        "sample_rate": record["sample_rate"],
    }
