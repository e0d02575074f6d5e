"""Settings for the instruction-count benchmark (``bench/trace_instructions.py``).

The test project (Django's default startproject middleware, the trivial async view at
``/async/``) on an in-memory SQLite, DEBUG off. ``AA_INSTR_VARIANT`` picks what is measured:
``noapp`` (no async_audit), ``installed`` (the app in INSTALLED_APPS, nothing else), and
``rate<R>`` (the sampling middleware first in MIDDLEWARE at SAMPLE_RATE R, samples queued
for the writer thread, which exports them and appends them to the JSON Lines file
``AA_INSTR_SAMPLE_FILE``, or drops them unexported when that is empty).
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS as _APPS
from tests.settings import MIDDLEWARE as _MIDDLEWARE

VARIANT = os.environ.get("AA_INSTR_VARIANT", "installed")

DEBUG = False
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

# The loop watchdog's work is paid per second, not per request (a wake-up every 5 ms and a
# heartbeat every 10 ms while traces are in flight). Under valgrind a request takes 50-100
# times longer, so that work would be counted 50-100 times over, and a busy machine would
# change the figures; stalls of valgrind's own making would be recorded as loop lags.
# Here it wakes once a second and records nothing: these figures are per request only.
ASYNC_AUDIT: dict[str, object] = {"WATCHDOG_INTERVAL_MS": 1000.0, "LOOP_LAG_MS": 1_000_000.0}

if VARIANT == "noapp":
    INSTALLED_APPS = [app for app in _APPS if app != "async_audit"]
elif VARIANT.startswith("rate"):
    MIDDLEWARE = ["async_audit.middleware.SamplingMiddleware", *_MIDDLEWARE]
    _FILE = os.environ.get("AA_INSTR_SAMPLE_FILE", "")
    ASYNC_AUDIT.update(
        SAMPLE_RATE=float(VARIANT.removeprefix("rate")),
        SAMPLE_SINK="file" if _FILE else "none",
        SAMPLE_FILE=_FILE or None,
        # The writer thread wakes for each batch of 10, never on a timer: how many flushes
        # a run makes must not depend on how slowly valgrind runs it, and little is left
        # for the driver's final drain.
        SAMPLE_FLUSH_SECONDS=3600.0,
        SAMPLE_BATCH_SIZE=10,
    )
