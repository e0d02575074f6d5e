"""Display strings shared by the renderers (formatting only: nothing here is computed)."""

from __future__ import annotations

from typing import Any

from async_audit.findings import route_label

__all__ = [
    "PARTIAL_MARK",
    "count_of",
    "partial_footnote",
    "probe_note",
    "probe_path",
    "route_label",
]

PARTIAL_MARK = "*"


def count_of(n: int, word: str) -> str:
    """``1 error``, ``2 errors``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def probe_path(q: dict[str, Any]) -> str:
    """The probed path; a query string the user gave is not echoed into the report."""
    return str(q["path"]) + ("?..." if q.get("query_omitted") else "")


def probe_note(q: dict[str, Any]) -> str:
    """Why a probe was not measured, what was followed, and whether its figures are partial."""
    parts = []
    if q.get("followed"):
        parts.append(f"followed the redirect to {q['followed']}")
    if q.get("not_measured"):
        parts.append(f"not measured: {q['not_measured']}")
    if q.get("dropped_events"):
        parts.append(f"partial{PARTIAL_MARK}: {q['dropped_events']} events dropped")
    return "; ".join(parts)


def partial_footnote(report: dict[str, Any]) -> str | None:
    routes = [r for r in report.get("routes", []) if r.get("partial_samples")]
    probes = [q for q in report.get("probes", []) if q.get("dropped_events")]
    if not routes and not probes:
        return None
    dropped = sum(r.get("dropped_events", 0) for r in routes) or sum(
        q["dropped_events"] for q in probes
    )
    return (
        f"{PARTIAL_MARK} partial: {dropped} events were dropped at ASYNC_AUDIT['MAX_EVENTS_PER_TRACE'] "
        f"({len(routes)} route(s), {len(probes)} probe(s)); their figures are lower bounds. "
        f"Raise the limit to see everything."
    )
