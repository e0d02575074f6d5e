"""Assemble the "async-audit/1" report from the static audit, probes and stored samples.

The one place where runtime evidence meets the static audit: verdicts are computed here
(through ``async_audit.verdicts``), renderers only format the document this returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from async_audit.findings import SEVERITIES
from async_audit.inventory.chain import top_adapter_hops
from async_audit.probe import ProbeResult
from async_audit.verdicts import (
    RequestFacts,
    RouteVerdict,
    Thresholds,
    facts,
    judge_all,
    rank,
    route_key,
    sample_reason,
)
from async_audit.verdicts.capacity import (
    Arrivals,
    CapacityOptions,
    Inputs,
    RouteEvidence,
    capacity_section,
    route_evidence,
)
from async_audit.verdicts.capacity import rates_from_samples as _rates
from async_audit.verdicts.figures import request_row

if TYPE_CHECKING:
    from async_audit.sampling.read import Stored

__all__ = ["SCHEMA", "build_report", "max_severity"]

SCHEMA = "async-audit/1"
TOP_CANDIDATES = 5


def _dropped(trace: dict[str, Any] | None) -> int:
    if not trace:
        return 0
    return int((trace.get("summary") or {}).get("dropped_events") or 0)


def _probe_entry(p: ProbeResult) -> dict[str, Any]:
    t = p.trace
    # The probe's path is the user's input; its query string may hold tokens or personal
    # data and reports end up in CI logs and PR comments: it is not echoed.
    path, _, query = p.path.partition("?")
    entry: dict[str, Any] = {
        "path": path,
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
        "measured": p.measured,
        "not_measured": p.not_measured,
        "redirect": p.redirect,
        "followed": p.followed,
        "query_omitted": bool(query),
        "dropped_events": _dropped(t),
    }
    if t is not None and p.measured:
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


def _judge_stored(
    stored: Stored,
    probes: Sequence[dict[str, Any]],
    unmeasured_probes: Sequence[dict[str, Any]],
    thresholds: Thresholds | None,
) -> tuple[list[RouteVerdict], dict[str, RouteEvidence], dict[str, int]]:
    """Verdicts and capacity evidence a route at a time: a route's stored traces are read,
    judged with its probes, reduced to their demands and let go before the next route's."""
    measured: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, list[dict[str, Any]]] = {}
    for t in probes:
        measured.setdefault(route_key(t), []).append(t)
    for t in unmeasured_probes:
        errors.setdefault(route_key(t), []).append(t)
    verdicts: list[RouteVerdict] = []
    evidence: dict[str, RouteEvidence] = {}
    judged_errors: dict[str, int] = {}  # stored error responses read (those with evidence)

    def judge(key: str, traces: Sequence[dict[str, Any]]) -> None:
        stored_bad = [t for t in traces if sample_reason(t) is not None]
        judged_errors[key] = len(stored_bad)
        good = measured.pop(key, []) + [t for t in traces if sample_reason(t) is None]
        bad = errors.pop(key, []) + stored_bad
        # Each trace's facts once, for its verdict and its capacity demand (the traces
        # outlive the memo: their ids are not reused while it is read).
        memo: dict[int, RequestFacts] = {}

        def facts_of(t: dict[str, Any]) -> RequestFacts:
            f = memo.get(id(t))
            if f is None:
                f = memo[id(t)] = facts(t)
            return f

        verdicts.extend(judge_all(good, thresholds, bad, facts_of))
        evidence.update(route_evidence(good, facts_of))

    for key, traces in stored.groups():
        judge(key, traces)
    for key in [*measured, *errors]:  # routes only probes saw
        if key in measured or key in errors:
            judge(key, ())
    return verdicts, evidence, judged_errors


def _stored_figures(
    verdicts: Sequence[RouteVerdict],
    stored: Stored,
    probe_traces: Sequence[dict[str, Any]],
    judged_errors: Mapping[str, int],
    probe_errors: Sequence[dict[str, Any]] = (),
) -> None:
    """Each route's figures over every stored sample (and its probes), in place of those of
    the few traces the verdict read."""
    rows, error_rows = _rows_by_route(probe_traces), _rows_by_route(probe_errors)
    for v in verdicts:
        figures = stored.route_figures(v.key, rows.get(v.key, ()))
        if figures is not None:
            v.figures.update(figures)
        elif v.figures.get("measured") is False:
            # Seen only in error responses: judged on a sample of them (those with evidence
            # over-represented), its figures over all of them and its probes' ones.
            errors = stored.error_figures(v.key, error_rows.get(v.key, ()))
            if errors is not None:
                v.figures.update(errors)
            else:
                judged = judged_errors.get(v.key, 0)
                v.figures["samples"] += stored.errors.get(v.key, 0) - judged


def _rows_by_route(traces: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each trace's ``request_row`` by its route key."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for t in traces:
        rows.setdefault(route_key(t), []).append(request_row(facts(t)))
    return rows


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
    sampling: dict[str, Any] | None = None,
    samples_not_kept: Mapping[str, int] | None = None,
    capacity: CapacityOptions | None = None,
    arrivals: Arrivals | None = None,
    stored: Stored | None = None,
) -> dict[str, Any]:
    """``static`` is ``StaticAudit.to_dict()``; samples are stored trace dicts; ``sampling``
    is the writers' health (``async_audit.sampling.health``), when any was recorded;
    ``samples_not_kept`` counts, per route, samples read but left out of ``samples`` to bound
    memory (``async_audit.sampling.aggregate``): they still count in ``samples`` figures.

    ``stored`` (``async_audit.sampling.read``) replaces ``samples``, ``samples_not_kept``
    and ``arrivals``: its traces are judged, and each route's figures are those over every
    stored sample, merged with its probes'."""
    static = static or {}
    notes = list(notes)
    read_notes_end = len(notes)
    if stored is not None:
        samples, samples_not_kept, arrivals = (), None, stored.arrivals
    judged_samples = [t for t in samples if sample_reason(t) is None]
    unmeasured = [p.trace for p in probes if p.trace is not None and not p.measured] + [
        t for t in samples if sample_reason(t) is not None
    ]
    errors = stored.unmeasured if stored is not None else len(samples) - len(judged_samples)
    if errors:
        notes.append(
            f"{errors} stored sample(s) of error responses (4xx/5xx) or redirected GETs "
            f"not measured: checked for blocking calls and SynchronousOnlyOperation only"
        )
    chain = static.get("chain") or {}
    outside = int(chain.get("handler_hops") or 0) + top_adapter_hops(chain)
    if outside and (samples or (stored is not None and stored.total)):
        # The sampling middleware runs inside Django's ASGI handler: the handler's own hops
        # (request_started, closing the response) happen before and after its trace.
        notes.append(
            f"hops from samples leave out the {outside} per request of Django's ASGI handler, "
            f"outside the sampling middleware (probes and the chain audit count them)"
        )
    logins = sum(p.login_redirect for p in probes)
    if logins:
        notes.append(
            f"{logins} probe(s) were redirected to the login page and not measured: "
            f"probe as a user with --probe-user USERNAME"
        )
    traces = [p.trace for p in probes if p.trace is not None and p.measured] + judged_samples
    evidence: dict[str, RouteEvidence] | None = None
    if stored is None:
        verdicts = judge_all(traces, thresholds, unmeasured)
    else:
        verdicts, evidence, judged_errors = _judge_stored(stored, traces, unmeasured, thresholds)
        _stored_figures(verdicts, stored, traces, judged_errors, unmeasured)
        skipped = stored.skipped()
        if skipped:  # where the reader before this one put it: among the reading's notes
            notes.insert(read_notes_end, skipped)
    # Figures from traces that hit MAX_EVENTS_PER_TRACE are lower bounds: say so per route.
    partial: dict[str, list[int]] = {}
    if stored is not None:  # counted over every stored sample; the probes are added below
        partial = {key: list(tally) for key, tally in stored.partial.items()}
    counted = [p.trace for p in probes if p.trace] if stored is not None else traces + unmeasured
    for t in counted:
        tally = partial.setdefault(route_key(t), [0, 0])
        if _dropped(t):
            tally[0] += 1
            tally[1] += _dropped(t)
    for v in verdicts:
        n, dropped = partial.get(v.key, [0, 0])
        v.figures["partial_samples"] = n
        v.figures["dropped_events"] = dropped
    findings = list(static.get("findings", []))
    # A view the static audit found broken (AA2xx errors) is to fix first, whatever ran.
    broken = {f.get("view") for f in findings if f["severity"] == "error" and f.get("view")}
    for v in verdicts:
        findings.extend(f.to_dict() for f in v.findings)
        if v.view in broken:
            v.verdict = v.figures["verdict"] = "fix-first"
    verdicts = rank(verdicts)
    for v in verdicts:
        if samples_not_kept and v.key in samples_not_kept:
            v.figures["samples"] += samples_not_kept[v.key]
    findings.sort(key=_finding_key)
    routes = [v.figures for v in verdicts]
    candidates = sorted(
        (r for r in routes if r["verdict"] == "async-candidate"),
        key=lambda r: -r.get("p95_io_ms", 0.0),
    )[:TOP_CANDIDATES]
    counts = {s: sum(f["severity"] == s for f in findings) for s in SEVERITIES}
    capacity = capacity or CapacityOptions()
    # Arrival rates need every sample read, not only the ones kept for the verdicts.
    sample_rates, rate_info = (
        arrivals.rates() if arrivals is not None else _rates(samples, capacity.interval_s)
    )
    plan = capacity_section(
        Inputs(
            traces,
            {v.key: v.verdict for v in verdicts},
            sample_rates,
            capacity.traffic,
            capacity.convert,
            evidence,
        ),
        capacity.objective,
        rate_info if sample_rates else None,
    )
    report = {
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
            # Errors, and the stalls that make a route fix-first though only warnings.
            "fix_first": [f for f in findings if f["severity"] == "error" or f["code"] == "AA302"],
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
            "samples": stored.total
            if stored is not None
            else len(samples) + sum((samples_not_kept or {}).values()),
        },
        "capacity": plan,
        "notes": notes + list(static.get("errors", [])),
        "sampling": sampling,
    }
    replaced = _finite(report)
    if replaced:
        report["notes"].append(
            f"{replaced} figure(s) were not finite numbers and are shown as null"
        )
    return report


def _finite(node: Any) -> int:
    """Replace NaN and infinities by None in place (the JSON must stay strict); how many."""
    count = 0
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        if isinstance(value, float) and not math.isfinite(value):
            node[key] = None
            count += 1
        elif isinstance(value, (dict, list)):
            count += _finite(value)
    return count
