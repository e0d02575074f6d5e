"""The static audit as Django system checks (tag ``async_audit``).

Each finding becomes a check message with id ``async_audit.<I|W><digits of its code>``
(AA102 -> ``async_audit.W102``), so a project silences one kind with
``SILENCED_SYSTEM_CHECKS``. Problems the audit hit itself are ``async_audit.W100``.

Error-level findings are reported as warnings here: a system-check Error stops ``migrate``
and ``runserver``, and advice (from a heuristic source scan, among others) must never
block a team's workflow. ``manage.py async_audit --fail-on error`` is the gate for CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Info, Warning, register

from async_audit.findings import Finding

__all__ = ["TAG", "check_id", "check_static_audit"]

TAG = "async_audit"
_LEVELS = {"info": ("I", Info), "warning": ("W", Warning), "error": ("W", Warning)}


def check_id(finding: Finding) -> str:
    letter, _ = _LEVELS[finding.severity]
    return f"async_audit.{letter}{finding.code.removeprefix('AA')}"


def _message(finding: Finding) -> CheckMessage:
    _, level = _LEVELS[finding.severity]
    hint = f"route {finding.route!r}" if finding.route else None
    if finding.severity == "error":
        hint = "; ".join(filter(None, ["an error-level finding of manage.py async_audit", hint]))
    return level(finding.message, hint=hint, obj=finding.target, id=check_id(finding))


@register(TAG)
def check_static_audit(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    # Project-wide: skip when checks are limited to apps that do not include ours.
    if app_configs is not None and not any(a.name == "async_audit" for a in app_configs):
        return []
    from async_audit.inventory import audit_static

    audit = audit_static()
    messages = [_message(f) for f in audit.findings]
    messages.extend(Warning(f"async audit: {e}", id="async_audit.W100") for e in audit.errors)
    return messages
