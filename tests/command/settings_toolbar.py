"""The test project as a developer runs it: DEBUG on, django-debug-toolbar installed with its
default SHOW_TOOLBAR_CALLBACK (shown to INTERNAL_IPS, the probes' 127.0.0.1 among them)."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS as _APPS
from tests.settings import MIDDLEWARE as _MIDDLEWARE

DEBUG = True
ROOT_URLCONF = "tests.panels.urls"
INSTALLED_APPS = [*_APPS, "debug_toolbar"]
MIDDLEWARE = ["debug_toolbar.middleware.DebugToolbarMiddleware", *_MIDDLEWARE]
INTERNAL_IPS = ["127.0.0.1"]
DEBUG_TOOLBAR_CONFIG = {"IS_RUNNING_TESTS": False}
