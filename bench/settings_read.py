"""Settings for ``bench/read_scale.py``: the demo with every request sampled to a file.

The corpus of real traces the benchmark copies a million times is what the sampling
middleware writes for the demo's pages (``AA_SAMPLE_FILE``); DEBUG is off as in production.
"""

from __future__ import annotations

import os

from demo_site.settings import *  # noqa: F403
from demo_site.settings import MIDDLEWARE

DEBUG = False
MIDDLEWARE = ["async_audit.middleware.SamplingMiddleware", *MIDDLEWARE]
ASYNC_AUDIT = {
    "SAMPLE_RATE": 1.0,
    "SAMPLE_SINK": "file",
    "SAMPLE_FILE": os.environ.get("AA_SAMPLE_FILE", "/tmp/async-audit-corpus.jsonl"),
    "SAMPLE_FLUSH_SECONDS": 0.2,
}
