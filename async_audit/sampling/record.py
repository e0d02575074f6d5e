"""From a finished trace to what is stored: compact, privacy-safe, and self-describing.

The export is ``Trace.to_dict(private=False)`` (SQL fingerprints, no exception messages),
then scrubbed further for storage: the label (it holds the raw path) becomes ``"METHOD
route"``, outbound calls keep their host and lose their path. Query strings, bodies,
headers and cookies never enter a trace in the first place.

``row_fields(record)`` is the one place that turns a record into ``Sample`` columns: a column
computed at write time is added there (and in the model), nowhere else.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from typing import Any

from async_audit.trace.core import Trace

__all__ = ["HOST", "SCHEMA", "make_record", "row_fields"]

SCHEMA = 1
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


def row_fields(record: dict[str, Any]) -> dict[str, Any]:
    """``Sample`` column values for a record."""
    return {
        "created": datetime.fromtimestamp(record["started_at"], tz=timezone.utc),
        "route": (record["route"] or "")[:400],
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
