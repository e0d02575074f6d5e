"""A route's figures (the contract's ``routes`` entries) from per-request rows.

One request contributes one ``request_row``: a few numbers read off its facts. The sampling
writer stores them as ``Sample`` columns, so a route's figures over a million samples are a
database aggregate, not a million decoded traces. The same arithmetic runs in three places
and must agree to the last rounded digit:

- ``route_figures`` over rows in memory (``judge_route``, probes, streamed samples);
- ``Streamed``, the same over values added one request at a time in bounded memory;
- ``finish`` over aggregates a database computed (PostgreSQL's ``percentile_disc`` is the
  nearest-rank percentile, ``percentile_cont(0.5)`` is ``statistics.median``).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from async_audit.verdicts.request import RequestFacts
from async_audit.verdicts.timeline import IO_KINDS

__all__ = [
    "KIND_COLUMNS",
    "MEDIAN_COLUMNS",
    "ROW_COLUMNS",
    "Streamed",
    "finish",
    "percentile",
    "request_row",
    "route_figures",
]

KIND_COLUMNS = tuple(f"io_{k}_ms" for k in IO_KINDS)
# The per-request numbers a route's figures are made of, in column order.
ROW_COLUMNS = (
    "wall_ms",
    "io_ms",
    "cpu_ms",
    "hops",
    "hop_ms",
    "predicted_async_ms",
    "user_blocking",
    *KIND_COLUMNS,
)
# The columns whose median a route shows (user_blocking is summed).
MEDIAN_COLUMNS = tuple(c for c in ROW_COLUMNS if c != "user_blocking")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100); 0.0 for no values."""
    return _sorted_percentile(sorted(values), p)


def request_row(f: RequestFacts) -> dict[str, Any]:
    """One request's contribution to its route's figures (``ROW_COLUMNS``)."""
    b = f.breakdown
    row: dict[str, Any] = {
        "wall_ms": b.wall_ms,
        "io_ms": b.io_ms,
        "cpu_ms": b.cpu_ms,
        "hops": b.hops,
        "hop_ms": b.hop_ms,
        "predicted_async_ms": f.predicted_async_ms,
        "user_blocking": len(f.user_blocking),
    }
    for kind, column in zip(IO_KINDS, KIND_COLUMNS, strict=True):
        row[column] = float(b.io_by_kind.get(kind, 0.0))
    return row


def _r(x: float) -> float:
    return round(x, 2)


def finish(
    n: int,
    medians: Mapping[str, float | None],
    p50_ms: float,
    p95_ms: float,
    p95_io_ms: float,
    blocking_calls: int,
) -> dict[str, Any]:
    """Route figures from aggregates: ``medians`` of every row column but ``user_blocking``
    (``predicted_async_ms`` None when no request had a prediction)."""
    wall, io = float(medians["wall_ms"] or 0.0), float(medians["io_ms"] or 0.0)
    predicted = medians["predicted_async_ms"]
    return {
        "samples": n,
        "p50_ms": _r(p50_ms),
        "p95_ms": _r(p95_ms),
        "io_ms": _r(io),
        "cpu_ms": _r(float(medians["cpu_ms"] or 0.0)),
        "io_share": _r(io / wall) if wall else 0.0,
        "hops": float(medians["hops"] or 0.0),
        "hop_ms": _r(float(medians["hop_ms"] or 0.0)),
        "blocking_calls": int(blocking_calls),
        "p95_io_ms": _r(p95_io_ms),
        "predicted_async_ms": None if predicted is None else _r(float(predicted)),
        "io_by_kind": {
            k: _r(float(medians[c] or 0.0)) for k, c in zip(IO_KINDS, KIND_COLUMNS, strict=True)
        },
    }


def _sorted_median(ordered: Sequence[float]) -> float:
    """``statistics.median`` of values already sorted."""
    n = len(ordered)
    if not n:
        return 0.0
    mid = n // 2
    return float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _sorted_percentile(ordered: Sequence[float], p: float) -> float:
    """``percentile`` of values already sorted."""
    if not ordered:
        return 0.0
    return float(ordered[max(1, math.ceil(p / 100.0 * len(ordered))) - 1])


def _from_columns(columns: Mapping[str, Sequence[float]], n: int) -> dict[str, Any]:
    # Each column sorted once, for its median and its percentiles.
    ordered = {c: sorted(columns[c]) for c in MEDIAN_COLUMNS if c != "predicted_async_ms"}
    # No prediction: NaN when added a row at a time, -1 from a database (see extend_columns).
    predicted = sorted(p for p in columns["predicted_async_ms"] if p >= 0)
    medians: dict[str, float | None] = {c: _sorted_median(v) for c, v in ordered.items()}
    medians["predicted_async_ms"] = _sorted_median(predicted) if predicted else None
    walls, ios = ordered["wall_ms"], ordered["io_ms"]
    return finish(
        n,
        medians,
        _sorted_percentile(walls, 50),
        _sorted_percentile(walls, 95),
        _sorted_percentile(ios, 95),
        int(sum(columns["user_blocking"])),
    )


def route_figures(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A route's figures from its requests' ``request_row``s."""
    streamed = Streamed()
    for row in rows:
        streamed.add(row)
    return streamed.figures()


class Streamed:
    """Per-request values added one at a time, kept as packed doubles (8 bytes a value):
    a route with a million samples holds about 100 MB at most, and only while it is read."""

    def __init__(self) -> None:
        self.n = 0
        self.columns: dict[str, array[float]] = {c: array("d") for c in ROW_COLUMNS}

    def add(self, row: Mapping[str, Any]) -> None:
        self.n += 1
        for c, values in self.columns.items():
            v = row.get(c)
            values.append(math.nan if v is None else float(v))

    def extend_columns(self, columns: Sequence[Sequence[float]]) -> None:
        """Rows given column by column, in ``ROW_COLUMNS`` order, with no prediction as -1
        (what a database returns for ``COALESCE(predicted_async_ms, -1.0)``)."""
        for values, given in zip(self.columns.values(), columns, strict=True):
            values.extend(given)
        self.n += len(columns[0]) if columns else 0

    def extend(self, other: Streamed) -> None:
        self.n += other.n
        for c, values in self.columns.items():
            values.extend(other.columns[c])

    def figures(self) -> dict[str, Any]:
        return _from_columns(self.columns, self.n)
