"""Settings of the demo project: ``startproject``'s defaults plus what the demo exhibits.

Environment switches (all optional):

- ``DEMO_SQLITE_PATH``: the SQLite file (default ``demo_site/db.sqlite3``); tests use a
  temporary one.
- ``DEMO_DB=postgres``: use PostgreSQL on 127.0.0.1 instead (user ``postgres``, database
  ``async_audit_demo``; ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD`` override).
- ``DEMO_CONN_MAX_AGE``: seconds; the default 60 exhibits AA105, 0 silences it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent
REPO_ROOT = BASE_DIR.parent

SECRET_KEY = "demo-only-not-secret"  # a local demo, never deployed
DEBUG = True  # AA108: timings measured with DEBUG on overstate production
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "async_audit",
    "demo_site.shop",
]

# startproject's seven members, then four of our own (demo_site/shop/middleware.py). Order
# matters under ASGI: Django builds the chain from the bottom up, and the sync-only
# RequestTimingMiddleware switches the chain to sync at its position, so all seven
# startproject members above it run sync too (AA101). The members below it run async.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # AA101: sync-only (old-style class, only __call__).
    "demo_site.shop.middleware.RequestTimingMiddleware",
    # AA102: MiddlewareMixin with sync process_request/process_response, running async.
    "demo_site.shop.middleware.RequestIdMiddleware",
    # AA103: sync process_view.
    "demo_site.shop.middleware.ViewNameMiddleware",
    # The good example: dual-mode like django-htmx's, no hop in either mode.
    "demo_site.shop.middleware.ServerTimingMiddleware",
]


ROOT_URLCONF = "demo_site.urls"
ASGI_APPLICATION = "demo_site.asgi.application"
WSGI_APPLICATION = "demo_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [REPO_ROOT / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def _database() -> dict[str, Any]:
    # AA105: a persistent connection is a common production setting that does not help
    # under ASGI (each request's sync work runs in its own thread, so nothing is reused).
    conn_max_age = int(os.environ.get("DEMO_CONN_MAX_AGE", "60"))
    if os.environ.get("DEMO_DB", "sqlite").lower() in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("DEMO_PG_NAME", "async_audit_demo"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "CONN_MAX_AGE": conn_max_age,
        }
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_SQLITE_PATH") or BASE_DIR / "db.sqlite3",
        "CONN_MAX_AGE": conn_max_age,
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS: list[dict[str, Any]] = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [REPO_ROOT / "static"]

# The debug toolbar with the async-audit panel, when DEBUG and the toolbar is installed
# (`make demo-serve`). DEMO_TOOLBAR=0 turns it off: `make demo`'s probes measure the demo's
# own pages, not the toolbar's work.
try:
    import debug_toolbar as _debug_toolbar  # noqa: F401
except ImportError:
    TOOLBAR = False
else:
    TOOLBAR = DEBUG and os.environ.get("DEMO_TOOLBAR", "1") != "0"
if TOOLBAR:
    INSTALLED_APPS += ["debug_toolbar"]
    MIDDLEWARE = ["debug_toolbar.middleware.DebugToolbarMiddleware", *MIDDLEWARE]
    INTERNAL_IPS = ["127.0.0.1"]
    DEBUG_TOOLBAR_PANELS = [
        "debug_toolbar.panels.history.HistoryPanel",
        "debug_toolbar.panels.versions.VersionsPanel",
        "debug_toolbar.panels.timer.TimerPanel",
        "debug_toolbar.panels.settings.SettingsPanel",
        "debug_toolbar.panels.headers.HeadersPanel",
        "debug_toolbar.panels.request.RequestPanel",
        "debug_toolbar.panels.sql.SQLPanel",
        "debug_toolbar.panels.staticfiles.StaticFilesPanel",
        "debug_toolbar.panels.templates.TemplatesPanel",
        "debug_toolbar.panels.cache.CachePanel",
        "debug_toolbar.panels.signals.SignalsPanel",
        "async_audit.panels.AsyncAuditPanel",
    ]
    if os.environ.get("DEMO_AUDIT_PANEL", "1") == "0":  # bench/panel.py: the toolbar alone
        DEBUG_TOOLBAR_PANELS.remove("async_audit.panels.AsyncAuditPanel")
    DEBUG_TOOLBAR_CONFIG = {"IS_RUNNING_TESTS": False}
