"""The demo with the sampling middleware first, at rate 0: only forced requests are sampled."""

from __future__ import annotations

import os

from demo_site.settings import *  # noqa: F403
from demo_site.settings import MIDDLEWARE

MIDDLEWARE = ["async_audit.middleware.SamplingMiddleware", *MIDDLEWARE]
ASYNC_AUDIT = {
    "SAMPLE_RATE": 0.0,
    "SAMPLE_SINK": "file",
    "SAMPLE_FILE": os.environ["AA_SAMPLE_FILE"],
    "SAMPLE_FLUSH_SECONDS": 0.2,
}
