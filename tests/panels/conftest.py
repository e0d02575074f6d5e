"""The toolbar installed for one test, in the test project's settings (tests.settings does not
install it: the hop counts of other tests are measured on startproject's chain)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

pytest.importorskip("debug_toolbar", reason="the panel's tests need django-debug-toolbar")

PANELS = [
    "debug_toolbar.panels.history.HistoryPanel",
    "debug_toolbar.panels.timer.TimerPanel",
    "debug_toolbar.panels.sql.SQLPanel",
    "async_audit.panels.AsyncAuditPanel",
]


def toolbar_settings(
    store: str = "debug_toolbar.store.MemoryStore", *, middleware: bool = False
) -> override_settings:
    """The toolbar's app and panels; its middleware only with ``middleware`` (the toolbar's
    own test pattern builds a ``DebugToolbar`` by hand around the chain instead)."""
    from tests import settings as base

    toolbar_mw = ["debug_toolbar.middleware.DebugToolbarMiddleware"] if middleware else []

    return override_settings(
        DEBUG=True,
        INSTALLED_APPS=[*base.INSTALLED_APPS, "debug_toolbar"],
        MIDDLEWARE=[*toolbar_mw, *base.MIDDLEWARE],
        DEBUG_TOOLBAR_PANELS=PANELS,
        DEBUG_TOOLBAR_CONFIG={"IS_RUNNING_TESTS": False, "TOOLBAR_STORE_CLASS": store},
        INTERNAL_IPS=["127.0.0.1"],
        ROOT_URLCONF="tests.panels.urls",
    )


def reset_toolbar_caches() -> None:
    from debug_toolbar import settings as dt_settings
    from debug_toolbar.toolbar import DebugToolbar

    from async_audit.panels import panel

    dt_settings.get_config.cache_clear()
    dt_settings.get_panels.cache_clear()
    DebugToolbar._panel_classes = None
    DebugToolbar.store = None  # type: ignore[assignment]
    panel._chain_done = False
    panel._chain = None


@pytest.fixture
def toolbar_on(installed: None) -> Iterator[None]:
    with toolbar_settings():
        reset_toolbar_caches()
        try:
            yield
        finally:
            reset_toolbar_caches()
