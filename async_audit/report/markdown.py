"""The report as Markdown, for a pull-request comment."""

from __future__ import annotations

from collections.abc import Sequence
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

__all__ = ["render_markdown"]

_ICON = {"error": "🔴", "warning": "🟠", "info": "🔵"}


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out


def _finding(f: dict[str, Any]) -> str:
    route = f" (route `{route_label(f['route'])}`)" if f.get("route") is not None else ""
    return f"- {_ICON[f['severity']]} **{f['code']}** `{f['target']}`{route}: {f['message']}"


def render_markdown(report: dict[str, Any]) -> str:
    env = report.get("environment", {})
    s = report["summary"]
    c = s["findings"]
    out = [
        "## django-async-audit",
        "",
        f"Django {env.get('django', '?')}, Python {env.get('python', '?')}, "
        f"ASGI application `{env.get('asgi_application') or 'none'}`. "
        f"Evidence: static audit, {s['probes']} probe(s), {s['samples']} stored sample(s). "
        f"**{count_of(c['error'], 'error')}, {count_of(c['warning'], 'warning')}, {c['info']} info.**",
        *(["", f"{health[0].upper()}{health[1:]}."] if (health := sampling_line(report)) else []),
        "",
        "### Fix first",
        "",
    ]
    out += [_finding(f) for f in s["fix_first"]] or ["Nothing at error level, no stalled loop."]
    out += ["", "### Convert first (async candidates by p95 I/O time)", ""]
    if s["convert_first"]:
        out += _table(
            ["#", "route", "view", "p95 I/O ms", "p95 ms", "predicted async ms"],
            [[i + 1, f"`{route_label(r['route'])}`", f"`{r['view']}`", r["p95_io_ms"], r["p95_ms"], r["predicted_async_ms"]]
             for i, r in enumerate(s["convert_first"])],
        )  # fmt: skip
    elif not s["probes"] and not s["samples"]:
        out.append(
            "No runtime evidence yet: run with `--probe PATH` (or `--probe-all`), or enable sampling."
        )
    else:
        out.append("No async candidate on this evidence.")
    chain = report.get("chain") or {}
    if report.get("middleware"):
        per = chain.get("per_request_hops") or {}
        out += [
            "",
            f"### Middleware chain under ASGI: {chain.get('chain_hops', '?')} hops in the chain, "
            f"{per.get('async_view', '?')} per request with an async view, {per.get('sync_view', '?')} with a sync one",
            "",
        ]
        out += _table(
            ["#", "middleware", "mode", "hops", "hooks / why"],
            [[m["index"], f"`{m['path']}`", m.get("mode_under_asgi"), m.get("hops_per_request"),
              f"runs sync because of `{m['forced_sync_by']}`" if m.get("forced_sync_by") else ", ".join(m.get("hooks") or [])]
             for m in report["middleware"]],
        )  # fmt: skip
    if report.get("routes"):
        out += ["", "### Routes (medians per request; blocking: the calls seen in all n)", ""]
        out += _table(
            ["route", "view", "n", "p50 ms", "p95 ms", "I/O ms", "CPU ms", "hops", "hop ms", "blocking in n", "verdict"],
            [[f"`{route_label(r['route'])}`", f"`{r['view']}`", f"{r['samples']}{PARTIAL_MARK if r.get('partial_samples') else ''}", r["p50_ms"], r["p95_ms"], r["io_ms"], r["cpu_ms"],
              r["hops"], r["hop_ms"], r["blocking_calls"], r["verdict"]] for r in report["routes"]],
        )  # fmt: skip
    if report.get("probes"):
        out += ["", "### Probes", ""]
        out += _table(
            ["path", "status", "wall ms", "I/O ms", "CPU ms", "hops", "blocking", "error", "notes"],
            [[f"`{probe_path(q)}`", q["status"], q["wall_ms"], q["io_ms"], q["cpu_ms"], q["hops"], q["blocking_calls"],
              q["error"] or "", probe_note(q)] for q in report["probes"]],
        )  # fmt: skip
    footnote = partial_footnote(report)
    if footnote:
        out += ["", f"_{footnote}_"]
    cap = report.get("capacity")
    if cap:
        from async_audit.report import capacity as c

        out += ["", "### Capacity plan", ""]
        if cap.get("plan"):
            out += [c.heading(cap) + ".", ""]
            out += _table(c.ROUTE_HEADERS, [[f"`{r[0]}`", *r[1:]] for r in c.route_rows(cap)])
            out.append("")
            out += _table(c.PLAN_HEADERS, c.plan_rows(cap))
            out += [""] + [f"- {line}" for line in c.arithmetic(cap)]
        out += [f"> {note}" for note in cap.get("notes", [])]
    out += ["", "<details><summary>All findings</summary>", ""]
    out += [_finding(f) for f in report.get("findings", [])] or ["None."]
    out += ["", "</details>"]
    for note in report.get("notes", []):
        out += ["", f"> note: {note}"]
    return "\n".join(out) + "\n"
