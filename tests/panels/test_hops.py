"""The panel adds no thread hop to the request it reports: counted through the real ASGI
handler with the toolbar's middleware, with and without the panel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref import sync
from django.core.asgi import get_asgi_application
from django.test import override_settings

from async_audit.asgi_client import asgi_request
from tests.panels.conftest import PANELS, reset_toolbar_caches, toolbar_settings

pytestmark = pytest.mark.django_db(transaction=True)


class _HopCounter:
    """Counts every sync_to_async / async_to_sync call, independently of the trace.

    Patched above our instruments and removed by its own fixture before they are
    uninstalled (``monkeypatch`` may be undone after that, leaving a stale wrapper).
    """

    def __init__(self) -> None:
        self.count = 0
        self.saved = (sync.SyncToAsync.__call__, sync.AsyncToSync.__call__)
        s2a_call, a2s_call = self.saved
        counter = self

        async def s2a(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return await s2a_call(self, *args, **kwargs)

        def a2s(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return a2s_call(self, *args, **kwargs)

        sync.SyncToAsync.__call__ = s2a  # type: ignore[method-assign]
        sync.AsyncToSync.__call__ = a2s  # type: ignore[method-assign]

    def remove(self) -> None:
        sync.SyncToAsync.__call__, sync.AsyncToSync.__call__ = self.saved  # type: ignore[method-assign]


def _twice(path: str, between: Any = None) -> Any:
    """``path`` through the real ASGI app twice (the first pays first-call imports and the
    toolbar's set-up); the toolbar of the second request."""
    from debug_toolbar.toolbar import DebugToolbar

    toolbars: list[Any] = []

    def created(sender: Any, toolbar: Any, **kwargs: Any) -> None:
        toolbars.append(toolbar)

    DebugToolbar._created.connect(created)
    try:
        app = get_asgi_application()
        asyncio.run(asgi_request(app, path))
        if between is not None:
            between()
        response = asyncio.run(asgi_request(app, path))
    finally:
        DebugToolbar._created.disconnect(created)
    assert response.status == 200
    return toolbars[-1]


def _hops(path: str, counter: _HopCounter) -> tuple[int, Any]:
    toolbar = _twice(path, between=lambda: setattr(counter, "count", 0))
    return counter.count, toolbar


@pytest.fixture
def counter(installed: None) -> Iterator[_HopCounter]:
    c = _HopCounter()
    try:
        yield c
    finally:
        c.remove()
        reset_toolbar_caches()


@pytest.mark.parametrize("path", ["/pairs/db/sync/", "/pairs/db/async/"])
def test_the_panel_adds_no_hop_beyond_the_toolbars_own(counter: _HopCounter, path: str) -> None:
    with toolbar_settings(middleware=True):
        reset_toolbar_caches()
        with_panel, toolbar = _hops(path, counter)
        stats = toolbar.get_panel_by_id("AsyncAuditPanel").get_stats()
        with override_settings(DEBUG_TOOLBAR_PANELS=[p for p in PANELS if "async_audit" not in p]):
            reset_toolbar_caches()
            without_panel, _ = _hops(path, counter)
    reset_toolbar_caches()
    with override_settings(DEBUG=True):
        bare, _ = _hops_no_toolbar(path, counter)
    assert with_panel == without_panel
    # What the panel says the request cost, with and without the toolbar, is what was counted.
    assert stats["hops"]["with_toolbar"] == with_panel
    assert stats["hops"]["without_toolbar"] == bare


def _hops_no_toolbar(path: str, counter: _HopCounter) -> tuple[int, None]:
    app = get_asgi_application()
    asyncio.run(asgi_request(app, path))
    counter.count = 0
    asyncio.run(asgi_request(app, path))
    return counter.count, None


@pytest.mark.parametrize(
    ("path", "verdict", "codes"),
    [
        ("/async-sleep/", "fix-first", ["AA301"]),  # a blocking call on the loop
        ("/pairs/db/sync/", "keep-sync", ["AA307"]),
    ],
)
def test_under_the_toolbars_async_middleware_the_requests_own_work_stays_the_requests(
    installed: None, path: str, verdict: str, codes: list[str]
) -> None:
    # Nothing wraps the hops here (a wrapper in a test file would become their call site):
    # Django's hops below the toolbar's middleware must not be taken for the toolbar's.
    from tests.helpers import run_traced_many

    with toolbar_settings(middleware=True):
        reset_toolbar_caches()
        try:
            stats = _twice(path).get_panel_by_id("AsyncAuditPanel").get_stats()
        finally:
            reset_toolbar_caches()
    probe = run_traced_many(path, 1, warmup=1)[0].to_dict()
    assert stats["hops"]["without_toolbar"] == probe["summary"]["hops"]
    assert stats["hops"]["toolbar_inside"] == 0
    assert stats["verdict"] == verdict
    assert [f["code"] for f in stats["findings"]] == codes
