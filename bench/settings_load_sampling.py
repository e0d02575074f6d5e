"""``bench/load.py``'s sampling variants: the demo (DEBUG off) with the staging face on.

``SamplingMiddleware`` first, as the README says, storing to the project's database like
django-silk does, at ``SAMPLE_RATE`` from the environment (``BENCH_SAMPLE_RATE``): rate 0
traces nothing, 0.01 one request in a hundred, 1.0 every request. The records are written by
the background writer in batches, never on the request path.
"""

from __future__ import annotations

import os

from bench.settings_load import *  # noqa: F403
from bench.settings_load import MIDDLEWARE as _MIDDLEWARE

MIDDLEWARE = ["async_audit.middleware.SamplingMiddleware", *_MIDDLEWARE]
ASYNC_AUDIT = {
    "SAMPLE_RATE": float(os.environ.get("BENCH_SAMPLE_RATE", "0")),
    "SAMPLE_SINK": "database",
}
