from __future__ import annotations

from django.apps import AppConfig


class AsyncAuditConfig(AppConfig):
    name = "async_audit"
    verbose_name = "Async audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing registers the system checks: settings validation, and the static audit
        # (tag "async_audit", ids async_audit.W1xx/E1xx, silenced the Django way).
        from async_audit import checks  # noqa: F401
        from async_audit.inventory import checks as inventory_checks  # noqa: F401
