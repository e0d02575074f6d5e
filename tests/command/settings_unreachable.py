from __future__ import annotations

from tests.command.settings import *  # noqa: F403

# Nothing listens on port 1: the samples database cannot be reached.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "nowhere",
        "HOST": "127.0.0.1",
        "PORT": "1",
        "USER": "nobody",
        "OPTIONS": {"connect_timeout": 2},
    }
}
