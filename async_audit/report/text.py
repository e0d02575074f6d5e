"""The report for a person at a terminal: aligned tables, colour only when asked for.

The first screen answers "what must we fix first" (every error) and "what should we
convert first" (the top async candidates by p95 I/O time); details follow.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from async_audit.report.labels import (
    PARTIAL_MARK,
    count_of,
    partial_footnote,
    probe_note,
    probe_path,
    route_label,
)
from async_audit.report.sampling import sampling_line

__all__ = ["Palette", "render_text"]

Paint = Callable[[str], str]


def _plain(s: str) -> str:
    return s


@dataclass
class Palette:
    """Colour functions (Django's ``self.style`` parts); identity when colour is off."""

    error: Paint = _plain
    warning: Paint = _plain
    info: Paint = _plain
    heading: Paint = _plain
    good: Paint = _plain
    dim: Paint = _plain


WIDTH = 100


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.1f}"


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    right: frozenset[int] | set[int] = frozenset(),
) -> list[str]:
    cells = [
        [str(c) for c in headers],
        *[[("-" if c is None else str(c)) for c in r] for r in rows],
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for n, r in enumerate(cells):
        line = "  ".join(
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)
        )
        out.append("  " + line.rstrip())
        if n == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return out


def _clip(text: str, width: int) -> str:
    """One table cell; the whole text is in the JSON report."""
    return text if len(text) <= width else text[: width - 3] + "..."


def _short(path: str | None, keep: int = 2) -> str:
    """``tests.testapp.views.fanout_sync`` -> ``views.fanout_sync``: tables stay narrow."""
    if not path:
        return "-"
    parts = path.split(".")
    return ".".join(parts[-keep:]) if len(parts) > keep else path


def _finding_lines(f: dict[str, Any], p: Palette) -> list[str]:
    paint = {"error": p.error, "warning": p.warning, "info": p.info}[f["severity"]]
    where = f["target"] + (
        f"  (route {route_label(f['route'])})" if f.get("route") is not None else ""
    )
    lines = [f"  {paint(f['code'])}  {paint(f['severity']):s}  {where}"]
    lines += textwrap.wrap(
        f["message"], WIDTH - 8, initial_indent="        ", subsequent_indent="        "
    )
    return lines


def _probe_cell(q: dict[str, Any], p: Palette) -> str:
    cells = [p.error(_clip(q["error"], 70))] if q["error"] else []
    note = probe_note(q)
    if note:
        cells.append(p.dim(note))
    return "; ".join(cells)


def _capacity_lines(cap: dict[str, Any] | None, p: Palette) -> list[str]:
    from async_audit.report import capacity as c

    if not cap:
        return []
    out = ["", p.heading("CAPACITY PLAN") + ("  " + c.heading(cap) if cap.get("plan") else "")]
    if cap.get("plan"):
        out += _table(c.ROUTE_HEADERS, c.route_rows(cap), right={2, 3})
        out.append("")
        out += _table(c.PLAN_HEADERS, c.plan_rows(cap), right={1, 2, 3, 4})
        for line in c.arithmetic(cap):
            out += textwrap.wrap(line, WIDTH - 4, initial_indent="  ", subsequent_indent="    ")
    for note in cap.get("notes", []):
        out.append("  " + p.dim(note))
    return out


def render_text(report: dict[str, Any], palette: Palette | None = None) -> str:
    p = palette or Palette()
    env = report.get("environment", {})
    summary = report["summary"]
    out: list[str] = []
    head = "django-async-audit"
    facts = [f"Django {env.get('django', '?')}", f"Python {env.get('python', '?')}"]
    if env.get("asgi_application"):
        facts.append(f"ASGI {env['asgi_application']}")
    elif env.get("wsgi_application"):
        facts.append(f"WSGI only ({env['wsgi_application']})")
    out.append(p.heading(head) + "  " + ", ".join(facts))
    out.append(
        f"  evidence: static audit, {summary['probes']} probe(s), {summary['samples']} stored sample(s)"
    )
    if (health := sampling_line(report)) is not None:
        out.append(f"  {health}")

    fix = summary["fix_first"]
    stalls = sum(f["code"] == "AA302" for f in fix)
    what = count_of(len(fix) - stalls, "error") + (
        f", {count_of(stalls, 'loop stall')}" if stalls else ""
    )
    out += ["", p.heading(f"FIX FIRST ({what})")]
    if fix:
        for f in fix:
            out += _finding_lines(f, p)
    else:
        out.append("  " + p.good("nothing at error level, no stalled loop"))

    conv = summary["convert_first"]
    out += ["", p.heading("CONVERT FIRST (async candidates, by p95 I/O time)")]
    if conv:
        out += _table(
            ["#", "route", "view", "p95 I/O ms", "p95 ms", "async ms (pred.)"],
            [
                [
                    i + 1,
                    route_label(r["route"]),
                    _short(r["view"]),
                    _ms(r["p95_io_ms"]),
                    _ms(r["p95_ms"]),
                    _ms(r["predicted_async_ms"]),
                ]
                for i, r in enumerate(conv)
            ],
            right={0, 3, 4, 5},
        )
    elif not summary["probes"] and not summary["samples"]:
        out.append(
            "  no runtime evidence yet: add --probe PATH (or --probe-all), or enable sampling"
        )
    else:
        out.append("  " + p.good("no view would gain from async on this evidence"))

    chain = report.get("chain") or {}
    mw = report.get("middleware", [])
    if mw:
        per = chain.get("per_request_hops") or {}
        out += [
            "",
            p.heading("MIDDLEWARE CHAIN under ASGI")
            + f"  {chain.get('chain_hops', '?')} hops in the chain; per request "
            f"{per.get('async_view', '?')} with an async view, {per.get('sync_view', '?')} with a sync one",
        ]
        rows = []
        for m in mw:
            mode = m.get("mode_under_asgi") or "-"
            note = ", ".join(m.get("hooks") or [])
            if m.get("forced_sync_by"):
                note = f"runs sync because of {_short(m['forced_sync_by'], 1)}"
            if m.get("error"):
                note = f"error: {m['error']}"
            rows.append(
                [
                    m["index"],
                    m["path"],
                    p.warning(mode) if mode == "sync" else mode,
                    m.get("hops_per_request", "-"),
                    note,
                ]
            )
        out += _table(["#", "middleware", "mode", "hops", "hooks / why"], rows, right={0, 3})

    routes = report.get("routes", [])
    if routes:
        out += [
            "",
            p.heading("ROUTES") + "  (medians per request; blocking: the calls seen in all n)",
        ]
        out += _table(
            ["route", "view", "n", "p50 ms", "p95 ms", "I/O ms", "CPU ms", "I/O %", "hops", "hop ms", "blocking in n", "verdict"],
            [
                [route_label(r["route"]), _short(r["view"]),
                 f"{r['samples']}{PARTIAL_MARK if r.get('partial_samples') else ''}", _ms(r["p50_ms"]), _ms(r["p95_ms"]), _ms(r["io_ms"]),
                 _ms(r["cpu_ms"]), f"{r['io_share'] * 100:.0f}", f"{r['hops']:.0f}", _ms(r["hop_ms"]),
                 r["blocking_calls"], r["verdict"]]
                for r in routes
            ],
            right={2, 3, 4, 5, 6, 7, 8, 9, 10},
        )  # fmt: skip

    probes = report.get("probes", [])
    if probes:
        out += ["", p.heading("PROBES")]
        out += _table(
            ["path", "status", "wall ms", "I/O ms", "CPU ms", "hops", "blocking", "error / notes"],
            [
                [probe_path(q), q["status"], _ms(q["wall_ms"]), _ms(q["io_ms"]), _ms(q["cpu_ms"]), q["hops"],
                 q["blocking_calls"],
                 _probe_cell(q, p)]
                for q in probes
            ],
            right={1, 2, 3, 4, 5, 6},
        )  # fmt: skip

    footnote = partial_footnote(report)
    if footnote:
        out += textwrap.wrap(footnote, WIDTH - 2, initial_indent="  ", subsequent_indent="    ")
    out += _capacity_lines(report.get("capacity"), p)

    findings = report.get("findings", [])
    counts = summary["findings"]
    out += [
        "",
        p.heading(
            f"FINDINGS ({count_of(counts['error'], 'error')}, {count_of(counts['warning'], 'warning')}, "
            f"{counts['info']} info)"
        ),
    ]
    for f in findings:
        out += _finding_lines(f, p)
    for note in report.get("notes", []):
        out += ["", p.dim(f"note: {note}")]
    return "\n".join(out) + "\n"
