"""django-async-audit: how a Django project behaves under ASGI, from evidence.

Importing this package must not need django-debug-toolbar (only ``async_audit.panels`` does)
and must not touch Django settings: it is imported by ``INSTALLED_APPS`` loading.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
