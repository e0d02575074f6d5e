"""Settings for ``bench/instructions.py``: Django's default stack and one trivial async view.

``AA_BENCH_VARIANT`` picks what is measured: ``noapp`` (no async_audit), ``app`` (in
INSTALLED_APPS only), ``rate0`` (the sampling middleware first, SAMPLE_RATE 0), and
``rate<R>`` for any rate R (e.g. ``rate0.01``, ``rate1``; samples go to a JSON Lines file
under /tmp so the writer's work is counted but no database is needed).
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS as _APPS
from tests.settings import MIDDLEWARE as _MIDDLEWARE

VARIANT = os.environ.get("AA_BENCH_VARIANT", "app")
ROOT_URLCONF = "bench.urls_instructions"
INSTALLED_APPS = [a for a in _APPS if a not in ("tests.testapp",)]
if VARIANT == "noapp":
    INSTALLED_APPS = [a for a in INSTALLED_APPS if a != "async_audit"]
MIDDLEWARE = list(_MIDDLEWARE)
if VARIANT.startswith("rate"):
    MIDDLEWARE = ["async_audit.middleware.SamplingMiddleware", *MIDDLEWARE]
    ASYNC_AUDIT = {
        "SAMPLE_RATE": float(VARIANT.removeprefix("rate")),
        "SAMPLE_SINK": "file",
        "SAMPLE_FILE": f"/tmp/aa-bench-instructions-{os.getpid()}.jsonl",
    }
