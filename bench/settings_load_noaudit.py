"""``bench/load.py``'s baseline: ``bench.settings_load`` without ``async_audit`` installed."""

from __future__ import annotations

from bench.settings_load import *  # noqa: F403
from bench.settings_load import INSTALLED_APPS as _APPS

INSTALLED_APPS = [app for app in _APPS if app != "async_audit"]
