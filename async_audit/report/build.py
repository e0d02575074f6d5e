"""Assemble the "async-audit/1" report from the static audit, probes and stored samples.

The one place where runtime evidence meets the static audit: verdicts are computed here
(through ``async_audit.verdicts``), renderers only format the document this returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from async_audit.findings import SEVERITIES
from async_audit.probe import ProbeResult
from async_audit.verdicts import Thresholds, facts, judge_all, rank

__all__ = ["SCHEMA", "build_report", "max_severity"]

SCHEMA = "async-audit/1"
TOP_CANDIDATES = 5


def _probe_entry(p: ProbeResult) -> dict[str, Any]:
    t = p.trace
    entry: dict[str, Any] = {
        "path": p.path,
        "route": t.get("route") if t else None,
        "view": t.get("view") if t else None,
        "status": p.status,
        "wall_ms": None,
        "io_ms": None,
        "cpu_ms": None,
        "hops": None,
        "hop_ms": None,
        "blocking_calls": None,
        "error": p.error,
    }
    if t is not None:
        f = facts(t)
        b = f.breakdown
        entry.update(
            wall_ms=round(b.wall_ms, 2),
            io_ms=round(b.io_ms, 2),
            cpu_ms=round(b.cpu_ms, 2),
            hops=b.hops,
            hop_ms=round(b.hop_ms, 2),
            blocking_calls=len(f.user_blocking),
            io_by_kind=b.io_by_kind,
        )
    return entry


def _finding_key(f: dict[str, Any]) -> tuple[int, str, str, str]:
    return (-SEVERITIES.index(f["severity"]), f["code"], f.get("route") or "", f["target"])


def max_severity(findings: Sequence[dict[str, Any]]) -> str | None:
    levels = [SEVERITIES.index(f["severity"]) for f in findings]
    return SEVERITIES[max(levels)] if levels else None


def build_report(
    static: dict[str, Any] | None,
    probes: Sequence[ProbeResult] = (),
    samples: Sequence[dict[str, Any]] = (),
    thresholds: Thresholds | None = None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """``static`` is ``StaticAudit.to_dict()``; samples are stored trace dicts."""
    static = static or {}
    traces = [p.trace for p in probes if p.trace is not None and p.trace.get("route")] + list(
        samples
    )
    verdicts = judge_all(traces, thresholds)
    findings = list(static.get("findings", []))
    # A view the static audit found broken (AA2xx errors) is to fix first, whatever ran.
    broken = {f.get("view") for f in findings if f["severity"] == "error" and f.get("view")}
    for v in verdicts:
        findings.extend(f.to_dict() for f in v.findings)
        if v.view in broken:
            v.verdict = v.figures["verdict"] = "fix-first"
    verdicts = rank(verdicts)
    findings.sort(key=_finding_key)
    routes = [v.figures for v in verdicts]
    candidates = sorted(
        (r for r in routes if r["verdict"] == "async-candidate"),
        key=lambda r: -r.get("p95_io_ms", 0.0),
    )[:TOP_CANDIDATES]
    counts = {s: sum(f["severity"] == s for f in findings) for s in SEVERITIES}
    return {
        "schema": SCHEMA,
        "environment": static.get("environment", {}),
        "middleware": static.get("middleware", []),
        "chain": static.get("chain"),
        "views": static.get("views", []),
        "routes": routes,
        "probes": [_probe_entry(p) for p in probes],
        "findings": findings,
        "summary": {
            "findings": counts,
            "max_severity": max_severity(findings),
            "fix_first": [f for f in findings if f["severity"] == "error"],
            "convert_first": [
                {
                    k: r.get(k)
                    for k in (
                        "route",
                        "view",
                        "p95_io_ms",
                        "p95_ms",
                        "predicted_async_ms",
                        "samples",
                    )
                }
                for r in candidates
            ],
            "probes": len(probes),
            "samples": len(samples),
        },
        "notes": list(notes) + list(static.get("errors", [])),
    }
