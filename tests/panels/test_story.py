"""The story builder on its own (no toolbar): the toolbar's events are kept apart."""

from __future__ import annotations

from typing import Any

from async_audit.panels.story import build_story, is_toolbar_event

TOOLBAR_SITE = ["/venv/site-packages/debug_toolbar/panels/templates/panel.py", 10, "load"]
USER_SITE = ["/srv/shop/views.py", 20, "index"]


def _trace(*events: dict[str, Any]) -> dict[str, Any]:
    return {"wall_ms": 100.0, "cpu_ms": 5.0, "route": "", "view": "shop.views.index",
            "view_is_async": True, "status": 200, "summary": {}, "events": list(events)}  # fmt: skip


def _blocking(site: list[Any], start: float) -> dict[str, Any]:
    return {"kind": "blocking", "start_ms": start, "end_ms": start + 30.0, "duration_ms": 30.0,
            "thread": 1, "on_loop": True, "call": "open", "category": "file", "site": site,
            "stack": [site]}  # fmt: skip


def _hop(target: str, start: float) -> dict[str, Any]:
    return {"kind": "hop", "start_ms": start, "end_ms": start + 2.0, "duration_ms": 2.0,
            "thread": 1, "on_loop": True, "direction": "sync_to_async", "target": target,
            "site": None, "queue_wait_ms": 0.5, "run_ms": 1.0, "overhead_ms": 1.0,
            "run_thread": 2, "cpu_ms": 0.5, "nested": False}  # fmt: skip


def test_a_blocking_call_from_the_toolbars_code_is_the_toolbars_not_a_finding() -> None:
    trace = _trace(_blocking(TOOLBAR_SITE, 10.0), _hop("debug_toolbar.utils.render", 50.0))
    assert is_toolbar_event(trace["events"][0]) and is_toolbar_event(trace["events"][1])
    stats = build_story(trace, server="asgi", chain=None, toolbar_path=None, owner_thread=1)
    assert [f["code"] for f in stats["findings"]] == []
    assert stats["hops"]["user_seen"] == 0 and stats["hops"]["toolbar_inside"] == 1
    assert all(row["toolbar"] for row in stats["blocking_rows"])
    bars = [b for lane in stats["timeline"]["lanes"] for b in lane["bars"]]
    assert bars and all(b["toolbar"] and b["text"].startswith("toolbar's own") for b in bars)


def test_the_same_blocking_call_from_the_users_code_is_an_aa301() -> None:
    stats = build_story(
        _trace(_blocking(USER_SITE, 10.0)), server="asgi", chain=None, toolbar_path=None
    )
    assert [f["code"] for f in stats["findings"]] == ["AA301"]
    assert stats["verdict"] == "fix-first"
    assert stats["blocking_ms"] == 30.0


def test_hops_outside_the_window_come_from_the_static_chain_above_the_toolbar() -> None:
    chain = {
        "members": [
            {"index": 0, "path": "a.Outer", "mode_under_asgi": "async", "hops_per_request": 2},
            {
                "index": 1,
                "path": "debug_toolbar.middleware.DebugToolbarMiddleware",
                "mode_under_asgi": "async",
                "hops_per_request": 0,
            },
            {"index": 2, "path": "b.Inner", "mode_under_asgi": "async", "hops_per_request": 1},
        ],
        "adapters": [],
        "chain_hops": 3,
        "handler_hops": 2,
    }
    stats = build_story(
        _trace(_hop("b.Inner.process_request", 5.0)),
        server="asgi",
        chain=chain,
        toolbar_path="debug_toolbar.middleware.DebugToolbarMiddleware",
        toolbar_hops_outside=[{"what": "sync SHOW_TOOLBAR_CALLBACK", "hops": 1}],
    )
    hops = stats["hops"]
    assert (hops["user_seen"], hops["above_toolbar"], hops["handler"]) == (1, 2, 2)
    assert hops["without_toolbar"] == 5 and hops["with_toolbar"] == 6


def test_a_trace_owned_in_a_worker_thread_draws_async_to_sync_on_the_event_loops_lane() -> None:
    # The toolbar run sync (a sync-only middleware above it): its trace starts in the
    # request's worker thread (7); the chain below goes back to the loop through
    # async_to_sync, whose middleware hop back into thread 7.
    a2s = {"kind": "hop", "start_ms": 5.0, "end_ms": 95.0, "duration_ms": 90.0, "thread": 7,
           "on_loop": False, "direction": "async_to_sync", "target": "shop.mw.Outer",
           "site": None, "overhead_ms": 0.5}  # fmt: skip
    inner = {**_hop("shop.mw.Inner.process_request", 20.0), "run_thread": 7, "thread": 1}
    stats = build_story(
        _trace(a2s, inner), server="asgi", chain=None, toolbar_path=None, owner_thread=7,
        owner_on_loop=False,
    )  # fmt: skip
    lanes = {lane["label"]: [b["text"].split(",")[0] for b in lane["bars"]]
             for lane in stats["timeline"]["lanes"]}  # fmt: skip
    assert lanes == {
        "request thread": ["queue wait: sync_to_async shop.mw.Inner.process_request",
                           "hop: sync_to_async shop.mw.Inner.process_request"],
        "event loop": ["hop: async_to_sync shop.mw.Outer"],
    }  # fmt: skip
