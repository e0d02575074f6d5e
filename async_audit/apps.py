from __future__ import annotations

from django.apps import AppConfig


class AsyncAuditConfig(AppConfig):
    name = "async_audit"
    verbose_name = "Async audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the system checks (settings validation); importing is the registration.
        from async_audit import checks  # noqa: F401
