"""The report: one "async-audit/1" document, and its renderings for people and tools."""

from __future__ import annotations

import json
from typing import Any

from async_audit.report.build import SCHEMA, build_report, max_severity
from async_audit.report.html import render_html
from async_audit.report.markdown import render_markdown
from async_audit.report.text import Palette, render_text

__all__ = ["FORMATS", "SCHEMA", "Palette", "build_report", "max_severity", "render"]

FORMATS = ("text", "json", "markdown", "html")


def render(report: dict[str, Any], fmt: str, palette: Palette | None = None) -> str:
    if fmt == "json":
        # Strict JSON: build_report has already replaced any non-finite figure with null.
        return json.dumps(report, indent=2, default=str, allow_nan=False) + "\n"
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    return render_text(report, palette)
