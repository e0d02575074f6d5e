"""``bench/load.py``'s django-silk variants: the baseline project with silk recording.

silk's middleware goes first, as its README says; ``SILK_PERCENT`` (environment) is
``SILKY_INTERCEPT_PERCENT``: silk writes each intercepted request, its queries and its
response to the database on the request path. Its tables come from ``migrate`` with
these settings (``bench/load.py`` runs it for every settings module it serves).
"""

from __future__ import annotations

import os

from bench.settings_load_noaudit import *  # noqa: F403
from bench.settings_load_noaudit import INSTALLED_APPS as _APPS
from bench.settings_load_noaudit import MIDDLEWARE as _MIDDLEWARE

INSTALLED_APPS = [*_APPS, "silk"]
MIDDLEWARE = ["silk.middleware.SilkyMiddleware", *_MIDDLEWARE]
SILKY_INTERCEPT_PERCENT = float(os.environ.get("SILK_PERCENT", "100"))
SILKY_PYTHON_PROFILER = False
SILKY_META = False
