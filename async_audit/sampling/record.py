"""From a finished trace to what is stored: compact, privacy-safe, and self-describing.

Since schema 3 the record is ``compact_trace`` (events as positional lists of integer
microseconds, see ``trace/compact.py``): SQL fingerprints, no exception messages, outbound
calls with their host and without their path, and the label (it held the raw path) is
``"METHOD route"``. Query strings, bodies, headers and cookies never enter a trace in the
first place. Readers see every stored row through ``storage.parse_sample``, which expands
schemas 3 and 4 into the dict form schema 2 stored (schema 4 writes neither the label nor
a trace's defaults: they are put back there).

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

from async_audit.trace.compact import COMPACT_SCHEMA, compact_trace, expand, is_compact
from async_audit.trace.core import Trace

__all__ = ["HOST", "SCHEMA", "make_record", "row_fields", "sample_columns"]

# 1: the trace only. 2: plus the figure columns (``sample_columns``). 3: the compact trace.
# 4: the compact trace, hops and defaults shorter (``trace/compact.py``).
SCHEMA = COMPACT_SCHEMA
HOST = socket.gethostname()[:255]


def make_record(trace: Trace, method: str, rate: float, forced: bool) -> dict[str, Any]:
    """The JSON-safe sample of one request (runs in the writer thread, off the request)."""
    d = compact_trace(trace)
    # The label is "METHOD route" (``expand`` makes it), and ``forced`` is written if true.
    d.update(method=method, host=HOST, pid=os.getpid(), sample_rate=rate)
    if forced:
        d["forced"] = True
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

    stored = record
    if is_compact(record):
        record = expand(record)
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
        "data": stored,
        "host": record["host"],
        "pid": record["pid"],
        "sample_rate": record["sample_rate"],
    }
