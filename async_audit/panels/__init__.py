"""The django-debug-toolbar panel (the only part of django-async-audit that needs the toolbar).

``DEBUG_TOOLBAR_PANELS = [..., "async_audit.panels.AsyncAuditPanel"]``. The story it shows
is built by ``async_audit.panels.story``, which does not import the toolbar.
"""

from __future__ import annotations

from async_audit.panels.panel import AsyncAuditPanel

__all__ = ["AsyncAuditPanel"]
