"""One request's async story, as the panel shows it: plain, JSON-safe, display-ready data.

No toolbar import here (the panel module is the only one that needs django-debug-toolbar),
and no verdict logic: the verdict, its findings and their words come from
``async_audit.verdicts``, as they do for the command's probes.

The toolbar's own work is kept apart from the user's: hops and calls made from the
toolbar's code inside the panel's window (labelled, left out of the verdict), and the hops
the toolbar made before the panel got the request (known from its configuration).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from async_audit.findings import display_path
from async_audit.inventory.chain import top_adapter_hops
from async_audit.verdicts import Thresholds, facts, judge_route
from async_audit.verdicts.capacity import request_capacity

__all__ = ["STATS_VERSION", "build_story", "is_toolbar_event", "subtitle"]

STATS_VERSION = 2  # 2: "capacity"
# The timeline's x axis, in SVG user units: bars are placed as a share of the wall time.
AXIS = 1000.0
_LANE_KINDS = ("hop", "query", "http", "cache", "blocking", "loop_lag")
_KIND_LABEL = {
    "hop": "hop",
    "wait": "queue wait",
    "query": "query",
    "http": "outbound HTTP",
    "cache": "cache",
    "blocking": "blocking call",
    "loop_lag": "loop stall",
}
_TOOLBAR_DIR = f"{os.sep}debug_toolbar{os.sep}"
# The loop's lane when the trace's owner is a worker thread (the toolbar drawn into sync
# mode by a sync-only middleware): async_to_sync runs its awaitable there.
_LOOP_LANE = -2


def is_toolbar_event(e: dict[str, Any]) -> bool:
    """Made by django-debug-toolbar's code: its hops, or a call whose site is in its package.

    The site, not any frame of the stack: a toolbar panel below this one that wraps the rest
    of the request (the profiling panel's ``runcall``, the templates panel's render hook)
    is on the stack of everything the view does, and that work is still the view's.
    """
    if e.get("kind") == "hop" and str(e.get("target", "")).startswith("debug_toolbar."):
        return True
    site = e.get("site")
    return site is not None and len(site) > 0 and _TOOLBAR_DIR in str(site[0])


def _where(site: Any) -> str:
    if not site:
        return "unknown place"
    return f"{display_path(str(site[0]))}:{site[1]} in {site[2]}"


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(float(x), nd)


def _user_trace(trace: dict[str, Any], extra_hops: int) -> dict[str, Any]:
    """The trace without the toolbar's events; ``extra_hops`` made outside the window."""
    events = [e for e in trace["events"] if not is_toolbar_event(e)]
    summary = dict(trace.get("summary", {}))
    hops = [e for e in events if e["kind"] == "hop"]
    summary["hops"] = len(hops) + extra_hops
    summary["hop_ms"] = round(sum(h.get("overhead_ms") or 0.0 for h in hops), 3)
    return {**trace, "events": events, "summary": summary}


def _lanes(trace: dict[str, Any], toolbar_ids: set[int]) -> list[dict[str, Any]]:
    """The loop (or request) thread first, then each worker thread in order of first use."""
    wall = max(float(trace["wall_ms"]), 0.001)
    owner = trace.get("_owner_thread")
    order: list[int] = []
    lanes: dict[int, list[dict[str, Any]]] = {}

    def lane(thread: int | None) -> list[dict[str, Any]]:
        key = -1 if thread is None or thread == owner else int(thread)
        if key not in lanes:
            lanes[key] = []
            order.append(key)
        return lanes[key]

    lane(None)

    def bar(
        kind: str, start: float, end: float, label: str, site: Any, mine: bool
    ) -> dict[str, Any]:
        x = max(0.0, min(AXIS, start / wall * AXIS))
        w = max(2.0, min(AXIS - x, (end - start) / wall * AXIS))
        text = f"{_KIND_LABEL[kind]}: {label}, {end - start:.1f} ms at {start:.1f} ms"
        if site:
            text += f" ({_where(site)})"
        if not mine:
            text = "toolbar's own " + text
        return {"kind": kind, "x": round(x, 1), "w": round(w, 1), "text": text, "toolbar": not mine}

    for i, e in enumerate(trace["events"]):
        if e["kind"] not in _LANE_KINDS or e.get("end_ms") is None:
            continue
        mine = i not in toolbar_ids
        start, end = float(e["start_ms"]), float(e["end_ms"])
        if e["kind"] == "hop":
            label = f"{e.get('direction', 'sync_to_async')} {e.get('target', '')}"
            wait = e.get("queue_wait_ms")
            run = e.get("run_ms")
            if e.get("run_thread") is not None and wait is not None and run is not None:
                target = lane(e["run_thread"])
                if wait > 0:
                    target.append(bar("wait", start, start + wait, label, e.get("site"), mine))
                target.append(
                    bar("hop", start + wait, start + wait + run, label, e.get("site"), mine)
                )
            elif e.get("direction") == "async_to_sync":
                # Its awaitable runs on the event loop, whichever thread waits for it.
                loop_key = None if trace.get("_owner_on_loop") else _LOOP_LANE
                lane(loop_key).append(bar("hop", start, end, label, e.get("site"), mine))
            else:
                lane(e.get("thread")).append(bar("hop", start, end, label, e.get("site"), mine))
            continue
        if e["kind"] == "query":
            label = str(e.get("fingerprint", ""))[:120]
        elif e["kind"] == "http":
            label = f"{e.get('method', '')} {e.get('host', '')}{e.get('path', '')}"
        elif e["kind"] == "cache":
            label = f"{e.get('op', '')} ({e.get('alias') or e.get('backend', '')})"
        elif e["kind"] == "blocking":
            label = str(e.get("call", ""))
        else:
            label = "the loop did not tick"
        lane(e.get("thread")).append(bar(e["kind"], start, end, label, e.get("site"), mine))
    loop_threads = {e.get("thread") for e in trace["events"] if e.get("on_loop")}
    out = []
    for n, key in enumerate(order):
        if key == _LOOP_LANE:
            name = "event loop"
        elif key == -1:
            name = "event loop" if trace.get("_owner_on_loop") else "request thread"
        else:
            name = "event loop" if key in loop_threads else f"worker thread {n}"
        out.append({"label": name, "bars": lanes[key], "y": n * 22})
    return out


def _hop_row(e: dict[str, Any], *, toolbar: bool) -> dict[str, Any]:
    return {
        "site": _where(e.get("site")),
        "target": e.get("target", ""),
        "direction": e.get("direction", ""),
        "queue_wait_ms": _r(e.get("queue_wait_ms"), 2),
        "run_ms": _r(e.get("run_ms"), 2),
        "cpu_ms": _r(e.get("cpu_ms"), 2),
        "toolbar": toolbar,
    }


def _groups(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for e in items:
        g = groups.setdefault(
            str(e.get(key, "")), {"key": str(e.get(key, "")), "count": 0, "ms": 0.0}
        )
        g["count"] += 1
        g["ms"] += e["duration_ms"]
    return sorted(({**g, "ms": round(g["ms"], 2)} for g in groups.values()), key=lambda g: -g["ms"])


def subtitle(stats: dict[str, Any]) -> str:
    """The nav subtitle, e.g. ``16 hops · 82% I/O · async candidate``."""
    if not stats.get("verdict"):
        return "not traced" if stats.get("error") else ""
    hops = stats["hops"]
    lead = (
        f"{hops['without_toolbar']} hops"
        if stats["server"] == "asgi"
        else f"{hops['under_asgi']} hops under ASGI"
    )
    return f"{lead} · {stats['io_share_pct']}% I/O · {stats['verdict'].replace('-', ' ')}"


def build_story(
    trace: dict[str, Any],
    *,
    server: str,
    chain: dict[str, Any] | None,
    toolbar_path: str | None,
    toolbar_hops_outside: Sequence[dict[str, Any]] = (),
    thresholds: Thresholds | None = None,
    path: str = "",
    method: str = "GET",
    owner_thread: int | None = None,
    owner_on_loop: bool = False,
) -> dict[str, Any]:
    """The panel's stats for one request's exported trace (``OwnedTrace.export()``).

    ``owner_thread`` is ``Trace.thread``, ``owner_on_loop`` whether it runs an event loop
    (a toolbar in sync mode under ASGI runs in a worker thread). ``chain`` is ``ChainReport.to_dict()`` of the project (the static audit), used for the
    hops the panel cannot see: the members above the toolbar and the ASGI handler's, and
    under WSGI, what the same request would cost under ASGI.
    """
    # The thread that owned the request (the loop under ASGI): the timeline's first lane.
    trace = {
        **trace,
        "_server": server,
        "_owner_thread": owner_thread,
        "_owner_on_loop": owner_on_loop,
    }
    toolbar_ids = {i for i, e in enumerate(trace["events"]) if is_toolbar_event(e)}
    members = list((chain or {}).get("members") or [])
    tb_index = next((m["index"] for m in members if m["path"] == toolbar_path), None)
    above = [m for m in members if tb_index is not None and m["index"] < tb_index]
    above_hops = sum(int(m.get("hops_per_request") or 0) for m in above)
    handler_hops = int((chain or {}).get("handler_hops") or 0)
    # A sync chain top: the ASGI handler's own adapter hop into it, outside the window too.
    top_hop = top_adapter_hops(chain or {})
    outside_user = above_hops + handler_hops + top_hop if server == "asgi" else 0
    user = _user_trace(trace, outside_user)
    verdict = judge_route([user], thresholds)
    f = facts(user)
    b = f.breakdown
    seen = [e for e in trace["events"] if e["kind"] == "hop"]
    toolbar_in = sum(1 for i in toolbar_ids if trace["events"][i]["kind"] == "hop")
    toolbar_out = sum(int(h["hops"]) for h in toolbar_hops_outside)
    user_hops = len(seen) - toolbar_in
    chain_hops = int((chain or {}).get("chain_hops") or 0)
    queries = sum(e["kind"] == "query" for e in user["events"])
    cache_calls = sum(e["kind"] == "cache" for e in user["events"])
    is_async = trace.get("view_is_async")
    under_asgi = chain_hops + handler_hops + (0 if is_async else 1)
    hops = {
        "seen": len(seen),
        "user_seen": user_hops,
        "above_toolbar": above_hops if server == "asgi" else 0,
        "handler": handler_hops + top_hop if server == "asgi" else 0,
        "without_toolbar": user_hops + outside_user,
        "toolbar_inside": toolbar_in,
        "toolbar_outside": toolbar_out if server == "asgi" else 0,
        "toolbar_outside_why": list(toolbar_hops_outside) if server == "asgi" else [],
        "with_toolbar": user_hops + outside_user + toolbar_in + (toolbar_out if server == "asgi" else 0),
        # Under WSGI: the static chain, plus the view's own hop while it stays sync; as an
        # async view, one hop per ORM or cache call instead.
        "under_asgi": under_asgi if server == "wsgi" else user_hops + outside_user,
        "under_asgi_if_async": chain_hops + handler_hops + queries + cache_calls,
    }  # fmt: skip
    io_share = b.io_share
    findings = [
        {
            "code": x.code,
            "severity": x.severity,
            "message": x.message,
            "evidence": json.dumps(x.evidence, indent=1, default=str),
        }
        for x in verdict.findings
    ]
    events = user["events"]
    hop_rows = [_hop_row(e, toolbar=False) for e in events if e["kind"] == "hop"] + [
        _hop_row(e, toolbar=True)
        for i, e in enumerate(trace["events"])
        if i in toolbar_ids and e["kind"] == "hop"
    ]
    blocking_rows = [
        {
            "kind": e.get("category") or e["kind"],
            "call": e.get("call", "the loop did not tick"),
            "duration_ms": _r(e["duration_ms"], 2),
            "site": _where(e.get("site")),
            "stack": [_where(fr) for fr in e.get("stack") or []],
            "toolbar": i in toolbar_ids,
        }
        for i, e in enumerate(trace["events"])
        if e["kind"] in ("blocking", "loop_lag")
    ]
    # A split of the wall time: I/O by kind, CPU, and the rest (hand-offs between threads,
    # queue waits, time the threads were not scheduled). Hop overhead is not a part of its
    # own: it is partly CPU (the hand-off's) and partly the rest, so adding it counted
    # time twice (a sync view read "cpu 70%, hop 82%"). CPU spent inside an I/O call's
    # window (a driver's, the toolbar's SQL stack capture) is already in that call's time:
    # the split's CPU is what lies outside the I/O.
    io_sum = sum(b.io_by_kind.values())
    cpu_part = min(b.cpu_ms, max(0.0, b.wall_ms - io_sum))
    other = b.wall_ms - io_sum - cpu_part
    segments = [
        {"key": k, "ms": round(v, 1), "pct": round(v / b.wall_ms * 100, 1) if b.wall_ms else 0}
        for k, v in (*b.io_by_kind.items(), ("cpu", cpu_part), ("other", other))
        if v > 0
    ]
    lanes = _lanes(trace, toolbar_ids)
    # The capacity plan's per-request inputs: what this request holds, today and as async.
    # Held ms / 1000 is how many workers one request per second of the route keeps busy.
    capacity = request_capacity(user)
    for side in ("today", "as_async"):
        if capacity[side] is not None:
            capacity[side]["busy_per_rps"] = round(capacity[side]["worker_ms"] / 1000, 3)
    return {
        "version": STATS_VERSION,
        "server": server,
        "method": method,
        "path": path,
        "route": trace.get("route"),
        "view": trace.get("view"),
        "view_is_async": is_async,
        "status": trace.get("status"),
        "wall_ms": _r(b.wall_ms, 1),
        "cpu_ms": _r(b.cpu_ms, 1),
        "io_ms": _r(b.io_ms, 1),
        "io_share_pct": round(io_share * 100),
        "cpu_share_pct": round(b.cpu_share * 100),
        "hop_ms": _r(b.hop_ms, 2),
        "blocking_ms": _r(sum(e["duration_ms"] for e in f.user_blocking), 2),
        "predicted_async_ms": _r(f.predicted_async_ms, 1),
        "shared_thread": bool(trace.get("shared_thread")),
        "dropped_events": int(trace.get("summary", {}).get("dropped_events", 0)),
        "verdict": verdict.verdict,
        "capacity": capacity,
        "findings": findings,
        "hops": hops,
        "segments": segments,
        "timeline": {"lanes": lanes, "height": len(lanes) * 22},
        "hop_rows": hop_rows,
        "blocking_rows": blocking_rows,
        "query_groups": _groups([e for e in events if e["kind"] == "query"], "fingerprint"),
        "http_groups": _groups([e for e in events if e["kind"] == "http"], "host"),
        "cache_groups": _groups([e for e in events if e["kind"] == "cache"], "op"),
        "queries": queries,
        "cache_calls": cache_calls,
        "middleware": [
            {
                k: m.get(k)
                for k in ("index", "path", "mode_under_asgi", "hops_per_request", "hooks", "forced_sync_by")
            }
            for m in members
        ],
        "chain": {
            "chain_hops": chain_hops,
            "handler_hops": handler_hops,
            "per_request_hops": (chain or {}).get("per_request_hops") or {},
        },
        "toolbar_path": toolbar_path,
    }  # fmt: skip
