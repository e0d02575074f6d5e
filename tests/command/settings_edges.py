from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import MIDDLEWARE

ROOT_URLCONF = "tests.command.edges"
LOGIN_URL = "/login/"
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "French")]
APPEND_SLASH = True
MIDDLEWARE = [*MIDDLEWARE[:2], "django.middleware.locale.LocaleMiddleware", *MIDDLEWARE[2:]]
