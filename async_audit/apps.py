from __future__ import annotations

from django.apps import AppConfig


class AsyncAuditConfig(AppConfig):
    name = "async_audit"
    verbose_name = "Async audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing registers the system checks: settings validation (async_audit.E0xx), and
        # the static audit (tag "async_audit": its errors on every command, the rest with
        # --deploy; ids async_audit.W1xx/W2xx/I1xx..., silenced the Django way).
        from async_audit import checks  # noqa: F401
        from async_audit.inventory import checks as inventory_checks  # noqa: F401
