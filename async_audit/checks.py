"""System checks: ``manage.py check`` reports bad ``ASYNC_AUDIT`` settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from async_audit import conf

_HINT = "See the settings table in the django-async-audit README."


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    value = getattr(settings, "ASYNC_AUDIT", {})
    return [Error(msg, hint=_HINT, id=check_id) for check_id, msg in conf.validate(value)]
