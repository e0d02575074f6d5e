"""The finding record shared by every audit (static chain, inventory, verdicts).

Codes, severities and targets follow ../shared/docs/contract.md exactly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["SEVERITIES", "Finding", "Severity", "display_path", "route_label"]

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")


@dataclass
class Finding:
    code: str
    severity: Severity
    target: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    route: str | None = None
    view: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "target": self.target,
            "message": self.message,
            "evidence": self.evidence,
        }
        if self.route is not None or self.view is not None:
            out["route"] = self.route
            out["view"] = self.view
        return out


def route_label(route: str | None) -> str:
    """The root URL pattern is ``""``: shown, not mistaken for "no route"."""
    if route is None:
        return "-"
    return '"" (root)' if route == "" else route


def display_path(path: str) -> str:
    """A call site's file as a reader wants it: relative to the current directory when it
    is under it (the project), else absolute (a library: never ``../../../root/.pyenv/...``)."""
    if not os.path.isabs(path):
        return path
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if relative.startswith(os.pardir + os.sep) else relative
