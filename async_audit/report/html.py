"""The report as one self-contained HTML file: the middleware onion, per-route bars of where
the time goes, and the findings. Django templates, inline CSS and SVG, no CDN, no script.

A standalone template engine is used so the project's TEMPLATES setting does not matter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.template import Context, Engine
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from async_audit.report.labels import partial_footnote, probe_note, probe_path, route_label
from async_audit.report.sampling import sampling_line

__all__ = ["SEGMENTS", "render_html", "render_onion"]

_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# Bar segments, in drawing order: (key, label, colour).
SEGMENTS = [
    ("http", "outbound HTTP", "#2f6fdf"),
    ("db", "database", "#8e44ad"),
    ("cache", "cache", "#16a085"),
    ("file", "file", "#7f8c8d"),
    ("sleep", "sleep", "#95a5a6"),
    ("other", "other I/O", "#b0b7bf"),
    ("cpu", "CPU", "#e67e22"),
    ("hop", "thread hops", "#c0392b"),
    ("rest", "unexplained wait", "#ecf0f1"),
]
_COLOURS = dict((k, c) for k, _, c in SEGMENTS)
_ENGINE: Engine | None = None


def _engine() -> Engine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Engine(dirs=[str(_TEMPLATES)], autoescape=True)
    return _ENGINE


def render_onion(middleware: list[dict[str, Any]], view_label: str) -> SafeString:
    """Nested boxes, outermost member outside; the view at the core (the report and the panel)."""
    inner: SafeString = format_html('<div class="core">{}</div>', view_label)
    for m in reversed(middleware):
        mode = m.get("mode_under_asgi") or "?"
        why = (
            f"runs sync because of {m['forced_sync_by']}"
            if m.get("forced_sync_by")
            else ", ".join(m.get("hooks") or [])
        )
        inner = format_html(
            '<div class="ring {}"><div class="ring-label"><span class="mw">{}</span>'
            '<span class="badge">{}</span><span class="hops">{} hop{}</span><span class="why">{}</span></div>{}</div>',
            mode,
            m["path"],
            mode,
            m.get("hops_per_request", 0),
            "" if m.get("hops_per_request") == 1 else "s",
            why,
            inner,
        )
    return inner


def _bars(routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    scale = max((r.get("p50_ms") or 0.0 for r in routes), default=0.0) or 1.0
    out = []
    for r in routes:
        wall = float(r.get("p50_ms") or 0.0)
        parts: dict[str, float] = {k: float(v) for k, v in (r.get("io_by_kind") or {}).items()}
        parts["cpu"] = r.get("cpu_ms") or 0.0
        parts["hop"] = r.get("hop_ms") or 0.0
        known: float = sum(parts.values())
        if known > wall > 0:  # medians of parts need not add up to the median wall time
            parts = {k: v * wall / known for k, v in parts.items()}
            known = wall
        parts["rest"] = max(0.0, wall - known)
        segments = [
            {
                "key": k,
                "label": label,
                "colour": _COLOURS[k],
                "ms": parts.get(k, 0.0),
                "pct": parts.get(k, 0.0) / scale * 100,
            }
            for k, label, _ in SEGMENTS
            if parts.get(k, 0.0) > 0
        ]
        out.append(
            {
                **r,
                "segments": segments,
                "width_pct": wall / scale * 100,
                "label": route_label(r["route"]),
            }
        )
    return out


def _capacity(cap: dict[str, Any]) -> dict[str, Any]:
    from async_audit.report import capacity as c

    has_plan = bool(cap.get("plan"))
    return {
        "heading": c.heading(cap) if has_plan else "",
        "route_headers": c.ROUTE_HEADERS,
        "routes": c.route_rows(cap) if has_plan else [],
        "plan_headers": c.PLAN_HEADERS,
        "plan": c.plan_rows(cap) if has_plan else [],
        "arithmetic": c.arithmetic(cap) if has_plan else [],
        "notes": cap.get("notes", []),
    }


def render_html(report: dict[str, Any]) -> str:
    env = report.get("environment", {})
    findings = [
        {**f, "evidence_json": json.dumps(f.get("evidence", {}), indent=2, default=str)}
        for f in report.get("findings", [])
    ]
    chain = report.get("chain") or {}
    routes = [{**r, "label": route_label(r["route"])} for r in report.get("routes", [])]
    probes = [
        {**q, "shown_path": probe_path(q), "note": probe_note(q)} for q in report.get("probes", [])
    ]
    convert = [{**r, "label": route_label(r["route"])} for r in report["summary"]["convert_first"]]
    findings = [{**f, "route_label": route_label(f.get("route"))} for f in findings]
    fix_first = [
        {**f, "route_label": route_label(f.get("route"))} for f in report["summary"]["fix_first"]
    ]
    cap = report.get("capacity")
    context = {
        "report": report,
        "env": env,
        "summary": report["summary"],
        "sampling_line": sampling_line(report),
        "chain": chain,
        "onion": render_onion(report.get("middleware", []), "your view")
        if report.get("middleware")
        else None,
        "bars": _bars(report.get("routes", [])),
        "legend": [{"label": label, "colour": colour} for _, label, colour in SEGMENTS],
        "findings": findings,
        "routes": routes,
        "probes": probes,
        "convert_first": convert,
        "fix_first": fix_first,
        "partial_footnote": partial_footnote(report),
        "capacity": _capacity(cap) if cap else None,
        "style": mark_safe((_TEMPLATES / "async_audit" / "report.css").read_text()),
        "legend_html": format_html_join(
            "",
            '<span class="key"><i style="background:{}"></i>{}</span>',
            ((c, label) for _, label, c in SEGMENTS),
        ),
    }
    return _engine().get_template("async_audit/report.html").render(Context(context))
