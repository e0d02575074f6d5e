"""Verdicts: pure functions from traces (one route's requests) to findings and figures.

``judge_route(traces)`` gives a route's verdict, findings (AA301-AA308) and the figures of
the contract's ``routes`` entries; ``judge_all`` groups traces by route and ranks them so
the first lines answer "what must we fix first, and what should we convert first".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from async_audit.verdicts.measured import (
    not_measured_reason,
    route_key,
    sample_reason,
    view_ran,
)
from async_audit.verdicts.request import RequestFacts, facts
from async_audit.verdicts.rules import VERDICTS, RouteVerdict, judge_route, percentile
from async_audit.verdicts.thresholds import Thresholds
from async_audit.verdicts.timeline import Breakdown, breakdown

__all__ = [
    "EVENT_CODES",
    "VERDICTS",
    "Breakdown",
    "RequestFacts",
    "RouteVerdict",
    "Thresholds",
    "breakdown",
    "facts",
    "judge_all",
    "judge_route",
    "not_measured_reason",
    "percentile",
    "rank",
    "route_key",
    "sample_reason",
    "view_ran",
]


# Events that must never happen, whatever the response: a 500 caused by
# SynchronousOnlyOperation is exactly AA308, and a blocking call before an error still
# blocked the loop. Everything else (the route's shape) needs a response the view made.
EVENT_CODES = frozenset({"AA301", "AA302", "AA308"})


def _groups(traces: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for t in traces:
        groups.setdefault(route_key(t), []).append(t)
    return groups


def judge_all(
    traces: Iterable[dict[str, Any]],
    th: Thresholds | None = None,
    unmeasured: Iterable[dict[str, Any]] = (),
    facts_of: Callable[[dict[str, Any]], RequestFacts] = facts,
) -> list[RouteVerdict]:
    """One verdict per route (traces without a resolved route are grouped by view, then label).

    ``unmeasured``: traces of responses the view did not make (errors, redirects before
    the view): they only add the findings of ``EVENT_CODES``; a route seen only in them gets
    a row (fix-first) when they found something, else none.
    """
    judged = {key: judge_route(group, th, facts_of) for key, group in _groups(traces).items()}
    for key, group in _groups(unmeasured).items():
        events = [f for f in judge_route(group, th).findings if f.code in EVENT_CODES]
        if not events:
            continue
        verdict = judged.get(key)
        if verdict is None:
            verdict = judge_route(group, th)
            verdict.findings = events
            verdict.figures["measured"] = False
            judged[key] = verdict
        else:
            have = {f.code for f in verdict.findings}
            verdict.findings.extend(f for f in events if f.code not in have)
        verdict.verdict = verdict.figures["verdict"] = "fix-first"
    return rank(list(judged.values()))


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
