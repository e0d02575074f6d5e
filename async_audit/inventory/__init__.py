"""The static audit: settings, middleware chain, URL patterns and views, without a request.

``audit_static()`` is the one entry point; ``manage.py async_audit`` renders its result and
the system checks in ``async_audit.inventory.checks`` report its findings. A broken project
(a middleware that does not import, a URLconf that raises) gives an AA109 finding or an entry
in ``errors`` naming the culprit, never a traceback.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from async_audit.findings import Finding
from async_audit.inventory.chain import ChainReport, MiddlewareEntry, analyse_chain, chain_findings
from async_audit.inventory.views import ViewEntry, inventory_views

__all__ = ["StaticAudit", "audit_static"]


@dataclass
class StaticAudit:
    middleware: list[MiddlewareEntry]
    views: list[ViewEntry]
    findings: list[Finding]
    # Problems of the audit itself that no finding covers (e.g. the chain cross-check).
    errors: list[str]
    chain: ChainReport | None = None
    environment: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The static parts of the "async-audit/1" JSON report."""
        chain = self.chain.to_dict() if self.chain is not None else None
        return {
            "environment": dict(self.environment),
            "middleware": [m.to_dict() for m in self.middleware],
            "chain": (
                {k: v for k, v in chain.items() if k != "members"} if chain is not None else None
            ),
            "views": [v.to_dict() for v in self.views],
            "findings": [f.to_dict() for f in self.findings],
            "errors": list(self.errors),
        }


def _failed(part: str, exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1:]
    where = f" ({frame[0].filename}, line {frame[0].lineno})" if frame else ""
    return f"{part} failed: {type(exc).__name__}: {exc}{where}"


def audit_static(*, scan: bool = True, verify_chain: bool = True) -> StaticAudit:
    """Audit the configured project. ``scan`` parses async views' source (AA201/AA202)."""
    from async_audit.inventory.scan import scan_views
    from async_audit.inventory.settings_audit import environment, settings_findings

    audit = StaticAudit(middleware=[], views=[], findings=[], errors=[])
    # Each part guards itself: a bug or a broken project in one must not hide the others.
    try:
        audit.environment = environment()
    except Exception as exc:
        audit.errors.append(_failed("environment", exc))
    try:
        audit.chain = analyse_chain(verify=verify_chain)
        audit.middleware = audit.chain.members
        audit.errors.extend(audit.chain.mismatches)
        chain = chain_findings(audit.chain)
    except Exception as exc:
        audit.errors.append(_failed("middleware chain analysis", exc))
        chain = []
    try:
        inventory = inventory_views()
        audit.views = inventory.views
    except Exception as exc:
        audit.errors.append(_failed("URL inventory", exc))
        inventory = None
    try:
        audit.findings.extend(settings_findings(audit.views))
    except Exception as exc:
        audit.errors.append(_failed("settings checks", exc))
    audit.findings.extend(chain)
    if inventory is not None:
        audit.findings.extend(inventory.findings)
    if scan:
        try:
            audit.findings.extend(scan_views(audit.views))
        except Exception as exc:
            audit.errors.append(_failed("source scan", exc))
    return audit
