"""demo_site's own tests run with its settings: ``DJANGO_SETTINGS_MODULE=demo_site.settings``.

Installing django-async-audit registers its pytest plugin (the ``pytest11`` entry point);
a checkout run from a venv without that install registers it here, once.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from async_audit import pytest_plugin

    if not config.pluginmanager.is_registered(pytest_plugin):
        config.pluginmanager.register(pytest_plugin, "async_audit")
