"""The test project with the sampling middleware first, every request sampled (real servers)."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import MIDDLEWARE

MIDDLEWARE = ["async_audit.middleware.SamplingMiddleware", *MIDDLEWARE]
ASYNC_AUDIT = {
    "SAMPLE_RATE": float(os.environ.get("AA_SAMPLE_RATE", "1.0")),
    "SAMPLE_SINK": os.environ.get("AA_SAMPLE_SINK", "database"),
    "SAMPLE_FILE": os.environ.get("AA_SAMPLE_FILE"),
    "SAMPLE_FLUSH_SECONDS": float(os.environ.get("AA_SAMPLE_FLUSH", "0.2")),
}
if os.environ.get("AA_SAMPLE_PG"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["AA_SAMPLE_PG"],
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["AA_SQLITE_PATH"],
            # Many workers write one file: wait a little for the lock rather than fail at once.
            "OPTIONS": {"timeout": 5, "transaction_mode": "IMMEDIATE"},
        }
    }

if os.environ.get("AA_SAMPLE_DB_DOWN"):
    # Samples go to a database nothing answers for: the host's requests must not notice.
    DATABASES["samples"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "nowhere",
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": os.environ["AA_SAMPLE_DB_DOWN"],
        "OPTIONS": {"connect_timeout": 2},
    }
    ASYNC_AUDIT["SAMPLE_DB_ALIAS"] = "samples"

# A failed request's traceback goes to the server log the test shows.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR"},
        "async_audit": {"handlers": ["console"], "level": "WARNING"},
    },
}
