"""The edges project with Django's loggers at DEBUG on the console, as some projects have."""

from __future__ import annotations

from tests.command.settings_edges import *  # noqa: F403

DEBUG = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["console"], "level": "DEBUG"}},
}
