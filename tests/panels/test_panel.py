"""The panel in the toolbar's own test pattern: a ``DebugToolbar`` for a request, the panel by
id, ``process_request``, ``generate_stats``, ``get_stats``, and the stats reloaded from the
store, for sync and async views under an ASGI and a WSGI request."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
from typing import Any

import pytest
from django.core.handlers.base import BaseHandler
from django.test import AsyncRequestFactory, RequestFactory
from django.urls import resolve

from tests.panels.conftest import reset_toolbar_caches, toolbar_settings

pytestmark = pytest.mark.django_db(transaction=True)


def _toolbar_request(path: str, *, asgi: bool) -> tuple[Any, Any, Any]:
    """Run ``path`` through the toolbar and the test project's chain, as its middleware does."""
    from debug_toolbar.toolbar import DebugToolbar

    handler = BaseHandler()
    handler.load_middleware(is_async=asgi)
    chain = handler._middleware_chain  # type: ignore[attr-defined]
    request = (AsyncRequestFactory() if asgi else RequestFactory()).get(path)
    request.resolver_match = None
    toolbar = DebugToolbar(request, chain)
    panel = toolbar.get_panel_by_id("AsyncAuditPanel")
    for p in toolbar.enabled_panels:
        p.enable_instrumentation()
    try:
        # Under ASGI the toolbar's middleware calls the panels on the event loop.
        if asgi:
            response = asyncio.run(_process_on_loop(toolbar, request))
        else:
            response = toolbar.process_request(request)
    finally:
        for p in reversed(toolbar.enabled_panels):
            p.disable_instrumentation()
    for p in reversed(toolbar.enabled_panels):
        p.generate_stats(request, response)
        p.generate_server_timing(request, response)
    return toolbar, panel, response


async def _process_on_loop(toolbar: Any, request: Any) -> Any:
    return await toolbar.process_request(request)


def _reloaded(toolbar: Any) -> Any:
    from debug_toolbar.toolbar import DebugToolbar

    stored = DebugToolbar.fetch(toolbar.request_id, "AsyncAuditPanel")
    assert stored is not None
    return stored.get_panel_by_id("AsyncAuditPanel")


@pytest.mark.parametrize(
    ("path", "asgi", "is_async"),
    [
        ("/pairs/db/sync/", True, False),
        ("/pairs/db/async/", True, True),
        ("/pairs/db/sync/", False, False),
        ("/pairs/db/async/", False, True),
    ],
    ids=["asgi-sync-view", "asgi-async-view", "wsgi-sync-view", "wsgi-async-view"],
)
def test_the_panel_tells_the_requests_story_and_the_store_gives_it_back_the_same(
    toolbar_on: None, path: str, asgi: bool, is_async: bool
) -> None:
    toolbar, panel, response = _toolbar_request(path, asgi=asgi)
    assert response.status_code == 200
    stats = panel.get_stats()
    assert stats["server"] == ("asgi" if asgi else "wsgi")
    assert stats["route"] == resolve(path).route
    assert stats["view_is_async"] is is_async
    assert stats["verdict"] in ("fix-first", "async-candidate", "hop-heavy", "keep-sync", "ok")
    # The timeline's first lane is the thread the panel ran in: the loop under ASGI.
    lanes = stats["timeline"]["lanes"]
    assert lanes[0]["label"] == ("event loop" if asgi else "request thread")
    if asgi and not is_async:
        # The sync view's queries ran on a worker thread, not on the loop.
        assert not any(b["kind"] == "query" for b in lanes[0]["bars"])
        assert any(b["kind"] == "query" for lane in lanes[1:] for b in lane["bars"])
    # Two queries of the view, grouped by fingerprint.
    assert sum(g["count"] for g in stats["query_groups"]) == 2
    # JSON-safe, and what the store gives back renders the same title, subtitle and content.
    assert json.loads(json.dumps(stats)) == stats
    stored = _reloaded(toolbar)
    assert stored.get_stats() == stats
    assert stored.title == panel.title
    assert stored.nav_subtitle == panel.nav_subtitle
    assert stored.content == panel.content
    assert "Timeline" in stored.content and 'class="onion"' in stored.content


def test_under_asgi_the_hops_below_the_toolbar_and_the_handlers_make_the_count(
    toolbar_on: None,
) -> None:
    _, panel, _ = _toolbar_request("/pairs/db/async/", asgi=True)
    stats = panel.get_stats()
    hops = stats["hops"]
    # startproject's chain: 13 hops; the async view's two a* ORM calls: 2.
    assert hops["user_seen"] == 15
    # The ASGI handler's two (request_started, response.close), from the static audit.
    assert hops["handler"] == 2
    assert hops["without_toolbar"] == 17
    assert panel.nav_subtitle.startswith("17 hops · ")
    timings = panel.get_server_timing_stats()
    assert timings["hops"]["value"] == 17
    assert set(timings) == {"hops", "hop_ms", "io_ms", "blocking_ms"}


def test_under_wsgi_the_panel_says_what_the_request_would_cost_under_asgi(
    toolbar_on: None,
) -> None:
    _, panel, _ = _toolbar_request("/pairs/db/sync/", asgi=False)
    stats = panel.get_stats()
    assert stats["hops"]["seen"] == 0
    # startproject's 13 chain hops, the handler's 2 and the sync view's own hop.
    assert stats["hops"]["under_asgi"] == 16
    # As an async view: no view hop, one per ORM call (two queries).
    assert stats["hops"]["under_asgi_if_async"] == 17
    assert panel.nav_subtitle.startswith("16 hops under ASGI · ")
    assert "would make" in panel.content


def test_under_wsgi_an_async_views_own_hop_is_the_views_and_nothing_offers_to_convert_it(
    toolbar_on: None,
) -> None:
    _, panel, _ = _toolbar_request("/async/", asgi=False)
    hops = panel.get_stats()["hops"]
    # WSGI runs the async view through async_to_sync: the view's hop, not the toolbar's
    # (a toolbar frame on the stack had been taken for its call site).
    assert (hops["seen"], hops["user_seen"], hops["toolbar_inside"]) == (1, 1, 0)
    assert 'data-figure="hops">1<' in panel.content
    assert "this request made 1 thread hop." in panel.content
    assert "rewritten as an async view" not in panel.content


@pytest.mark.parametrize("asgi", [True, False], ids=["asgi", "wsgi"])
def test_the_split_of_the_wall_time_adds_up_to_the_wall_time(toolbar_on: None, asgi: bool) -> None:
    # A sync view's hop overhead (partly CPU) shown as a part beside the CPU had made the
    # split read "cpu 70%, hop 82%".
    _, panel, _ = _toolbar_request("/pairs/db/sync/", asgi=asgi)
    stats = panel.get_stats()
    parts = {s["key"]: s["ms"] for s in stats["segments"]}
    assert "hop" not in parts and "cpu" in parts
    assert sum(parts.values()) == pytest.approx(stats["wall_ms"], abs=0.1 * len(parts) + 0.05)
    assert sum(s["pct"] for s in stats["segments"]) <= 100.5


def test_the_panel_shows_what_the_request_holds_today_and_as_async(
    toolbar_on: None, upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AA_UPSTREAM", upstream)
    _, panel, _ = _toolbar_request("/pairs/fanout/sync/", asgi=False)
    cap = panel.get_stats()["capacity"]
    today, after = cap["today"], cap["as_async"]
    # Three sequential 60 ms calls, gathered as async: the worker is freed for the two calls
    # that overlap the longest (>= 120 ms). A saving, not a ratio: on a loaded machine the
    # wall time grows by time no call accounts for, and a ratio of walls moves with it.
    assert today["worker_ms"] >= 180
    assert today["worker_ms"] - after["worker_ms"] >= 110
    assert today["busy_per_rps"] == round(today["worker_ms"] / 1000, 3)
    assert f'data-figure="busy_per_rps">{today["busy_per_rps"]}<' in panel.content
    assert "pairs/fanout/sync/=RPS" in panel.content
    # An async view has nothing to convert.
    _, panel, _ = _toolbar_request("/pairs/fanout/async/", asgi=True)
    assert panel.get_stats()["capacity"]["as_async"] is None
    assert "As an async view" not in panel.content


def test_the_root_route_is_named_in_the_panel_and_in_its_traffic_hint(toolbar_on: None) -> None:
    _, panel, _ = _toolbar_request("/", asgi=True)
    assert panel.get_stats()["route"] == ""
    assert "route <code>&quot;&quot; (root)</code>" in panel.content
    assert "--traffic '=RPS'" in panel.content  # the root's ROUTE=RPS, usable as it stands


def test_the_verdict_and_its_words_are_the_commands_for_the_same_page(toolbar_on: None) -> None:
    from async_audit.verdicts import judge_route
    from tests.helpers import run_traced_many

    _, panel, _ = _toolbar_request("/sync-sleep/", asgi=True)
    stats = panel.get_stats()
    probe = judge_route([run_traced_many("/sync-sleep/", 1, warmup=1)[0].to_dict()])
    assert stats["verdict"] == probe.verdict == "keep-sync"
    assert [f["code"] for f in stats["findings"]] == [f.code for f in probe.findings] == ["AA307"]
    assert stats["findings"][0]["message"].split(";")[0] == probe.findings[0].message.split(";")[0]


# Every store this toolbar release has: DatabaseStore arrived in 6.0, CacheStore in 6.3, so
# the oldest supported release (6.0, run in CI too) tests two and the newest all three.
# (Read from the version: importing the store module here would import the toolbar's models.)
_TOOLBAR = tuple(int(p) for p in importlib.metadata.version("django-debug-toolbar").split(".")[:2])
_STORES = [
    f"debug_toolbar.store.{name}"
    for name, since in (("MemoryStore", (6, 0)), ("DatabaseStore", (6, 0)), ("CacheStore", (6, 3)))
    if since <= _TOOLBAR
]


@pytest.mark.parametrize("store", _STORES)
def test_every_store_gives_back_the_same_panel(installed: None, store: str) -> None:
    name = store.rpartition(".")[2]
    with toolbar_settings(store):
        reset_toolbar_caches()
        try:
            if name == "DatabaseStore":
                _create_history_table()
            # DatabaseStore runs queries from the toolbar's __init__, which Django refuses in
            # async code: it works under WSGI only (async-internals.md).
            toolbar, panel, _ = _toolbar_request("/pairs/db/sync/", asgi=name != "DatabaseStore")
            stored = _reloaded(toolbar)
            assert stored.get_stats() == panel.get_stats()
            assert stored.content == panel.content
            # The toolbar's own store queries are not the request's.
            assert sum(g["count"] for g in panel.get_stats()["query_groups"]) == 2
        finally:
            reset_toolbar_caches()


def _create_history_table() -> None:
    from debug_toolbar.models import HistoryEntry
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.create_model(HistoryEntry)
