"""The test project's URLs plus the toolbar's (its History panel reverses them)."""

from __future__ import annotations

from debug_toolbar.toolbar import debug_toolbar_urls

from tests.testapp.urls import urlpatterns as app_urls

urlpatterns = [*app_urls, *debug_toolbar_urls()]
