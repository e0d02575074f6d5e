"""``bench/settings_instr`` without ``async_audit``: the baseline of the instruction counts."""

from __future__ import annotations

from bench.settings_instr import *  # noqa: F403
from bench.settings_instr import INSTALLED_APPS as _APPS

INSTALLED_APPS = [app for app in _APPS if app != "async_audit"]
