"""The demo's settings plus one more sync-only middleware, below RequestIdMiddleware."""

from __future__ import annotations

from demo_site.settings import *  # noqa: F403
from demo_site.settings import MIDDLEWARE as _DEMO_MIDDLEWARE

_at = _DEMO_MIDDLEWARE.index("demo_site.shop.middleware.RequestIdMiddleware") + 1
MIDDLEWARE = [
    *_DEMO_MIDDLEWARE[:_at],
    "tests.demo.legacy.LegacyAuditMiddleware",
    *_DEMO_MIDDLEWARE[_at:],
]
