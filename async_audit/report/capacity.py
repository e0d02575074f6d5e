"""The capacity section as display rows, shared by the text, Markdown and HTML renderers.

Formatting only: every figure comes from the report's ``capacity`` object.
"""

from __future__ import annotations

from typing import Any

from async_audit.findings import route_label

__all__ = ["arithmetic", "heading", "plan_rows", "route_rows"]

ROUTE_HEADERS = [
    "route",
    "verdict",
    "req/s avg",
    "req/s at peak",
    "rate from",
    "converted",
    "WSGI ms now/after",
    "CPU ms now/after",
    "thread ms now/after",
]
PLAN_HEADERS = ["", "today (peak)", "after (peak)", "today (average)", "after (average)"]


def _f(v: Any, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def heading(cap: dict[str, Any]) -> str:
    o = cap["objective"]
    return (
        f"Erlang C (M/M/c): at most {o['wait_ms']:g} ms of queueing for "
        f"{o['percentile']:.0%} of requests; event loop at most {o['max_loop_load']:.0%} busy; "
        f"{o['threads_per_process']} thread(s) per WSGI process; converted: "
        + ("the async candidates" if cap["converted_by"] == "advice" else "the --convert routes")
    )


def route_rows(cap: dict[str, Any]) -> list[list[str]]:
    def pair(r: dict[str, Any], key: str) -> str:
        return f"{_f(r['today'][key])} / {_f(r['after'][key])}"

    return [
        [
            route_label(r["route"]),
            r["verdict"] or "-",
            _f(r["rate_avg"], 2),
            _f(r["rate_peak"], 2),
            r["rate_source"],
            "yes" if r["converted"] else "no",
            pair(r, "worker_ms"),
            pair(r, "cpu_ms"),
            pair(r, "thread_ms"),
        ]
        for r in cap["routes"]
    ]


_ROWS: list[tuple[str, str, str, int]] = [
    # (label, deployment, key, digits)
    ("WSGI workers (processes x threads)", "wsgi", "workers", 0),
    ("  offered load (Erlangs)", "wsgi", "offered_load", 2),
    ("  mean hold per request (ms)", "wsgi", "service_ms", 1),
    ("  P(wait) / wait at percentile (ms)", "wsgi", "p_wait", 3),
    ("ASGI processes", "asgi", "processes", 0),
    ("  CPU load (CPUs) / per loop", "asgi", "cpu_load", 2),
    ("  CPU per request (ms)", "asgi", "cpu_ms", 1),
    ("  loop wait at percentile (ms)", "asgi", "loop_wait_ms", 1),
    ("  pool threads busy: mean / at percentile per process", "asgi", "threads_busy_mean", 1),
]


def _cell(side: dict[str, Any] | None, dep: str, key: str, digits: int) -> str:
    part = (side or {}).get(dep)
    if not part:
        return "-"
    if key == "workers":
        return f"{part['workers']} ({part['processes']} x {part['threads']})"
    if key == "p_wait":
        return f"{part['p_wait']:.3f} / {_f(part['wait_ms'])}"
    if key == "cpu_load":
        return f"{part['cpu_load']:.2f} / {part['loop_load']:.2f}"
    if key == "threads_busy_mean":
        return f"{part['threads_busy_mean']:.1f} / {part['threads_busy']}"
    return _f(part[key], digits)


def plan_rows(cap: dict[str, Any]) -> list[list[str]]:
    p = cap["plan"]
    sides = [p["today"]["peak"], p["after"]["peak"], p["today"]["average"], p["after"]["average"]]
    rows = [["arrivals (req/s)", *(_f(s["rate"], 2) for s in sides)]]
    rows += [[label, *(_cell(s, dep, key, d) for s in sides)] for label, dep, key, d in _ROWS]
    return rows


def arithmetic(cap: dict[str, Any]) -> list[str]:
    """The peak plan's sums, spelled out so a reader can redo them."""
    o = cap["objective"]
    q = o["percentile"]
    out = []
    for when in ("today", "after"):
        side = cap["plan"][when]["peak"]
        w, a = side.get("wsgi"), side.get("asgi")
        if not w or not a:
            continue
        out.append(
            f"{when}: WSGI A = {side['rate']:g} req/s x {w['service_ms']:g} ms = {w['offered_load']:g} Erlangs; "
            f"c = {w['workers']}: P(wait) = C(c, A) = {w['p_wait']:g}, wait at p{q * 100:g} = "
            f"S/(c-A) ln(P(wait)/{1 - q:.2g}) = {_f(w['wait_ms'], 2)} ms <= {o['wait_ms']:g}. "
            f"ASGI: {side['rate']:g} x {a['cpu_ms']:g} ms = {a['cpu_load']:g} CPUs over {a['processes']} "
            f"process(es) = {a['loop_load']:g} per loop (<= {o['max_loop_load']:g}); threads busy "
            f"{side['rate']:g} x {a['thread_ms']:g} ms = {a['threads_busy_mean']:g} (Poisson)."
        )
    return out
