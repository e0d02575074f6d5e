"""Settings for the instruction-count benchmark: the test project (Django's default
startproject middleware, the app installed) on an in-memory SQLite, DEBUG off."""

from __future__ import annotations

from tests.settings import *  # noqa: F403

DEBUG = False
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

# The loop watchdog's work is paid per second, not per request (a wake-up every 5 ms and a
# heartbeat every 10 ms while traces are in flight). Under valgrind a request takes 50-100
# times longer, so that work would be counted 50-100 times over, and a busy machine would
# change the figures; stalls of valgrind's own making would be recorded as loop lags.
# Here it wakes once a second and records nothing: these figures are per request only.
ASYNC_AUDIT = {"WATCHDOG_INTERVAL_MS": 1000.0, "LOOP_LAG_MS": 1_000_000.0}
