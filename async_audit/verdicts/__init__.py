"""Verdicts: pure functions from traces (one route's requests) to findings and figures.

``judge_route(traces)`` gives a route's verdict, findings (AA301-AA308) and the figures of
the contract's ``routes`` entries; ``judge_all`` groups traces by route and ranks them so
the first lines answer "what must we fix first, and what should we convert first".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from async_audit.verdicts.request import RequestFacts, facts
from async_audit.verdicts.rules import VERDICTS, RouteVerdict, judge_route, percentile
from async_audit.verdicts.thresholds import Thresholds
from async_audit.verdicts.timeline import Breakdown, breakdown

__all__ = [
    "VERDICTS",
    "Breakdown",
    "RequestFacts",
    "RouteVerdict",
    "Thresholds",
    "breakdown",
    "facts",
    "judge_all",
    "judge_route",
    "percentile",
    "rank",
]


def judge_all(traces: Iterable[dict[str, Any]], th: Thresholds | None = None) -> list[RouteVerdict]:
    """One verdict per route (traces without a resolved route are grouped by view, then label)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for t in traces:
        key = t.get("route") or t.get("view") or t.get("label") or "?"
        groups.setdefault(key, []).append(t)
    return rank([judge_route(group, th) for group in groups.values()])


def rank(verdicts: Sequence[RouteVerdict]) -> list[RouteVerdict]:
    """Errors first, then async candidates by p95 I/O time, then the rest by p95 wall time."""
    order = {v: i for i, v in enumerate(VERDICTS)}

    def key(v: RouteVerdict) -> tuple[int, float]:
        weight = (
            v.figures.get("p95_io_ms", 0.0)
            if v.verdict == "async-candidate"
            else v.figures.get("p95_ms", 0.0)
        )
        return (order.get(v.verdict, len(order)), -float(weight))

    return sorted(verdicts, key=key)
