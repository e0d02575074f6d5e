"""The sampling-health line every format shows (the numbers come from the report document)."""

from __future__ import annotations

from typing import Any

__all__ = ["sampling_line"]


def sampling_line(report: dict[str, Any]) -> str | None:
    """``"sampling: 1200 requests sampled, 1190 stored, 10 dropped (10 queue_full) ..."``."""
    s = report.get("sampling")
    if not s:
        return None
    dropped = s.get("dropped") or {}
    why = ", ".join(f"{n} {reason}" for reason, n in dropped.items())
    return (
        f"sampling: {s['sampled']} request(s) sampled, {s['stored']} stored, "
        f"{s['dropped_total']} dropped{f' ({why})' if why else ''}; "
        f"{s['processes']} process(es) on {s['hosts']} host(s), from the {s['source']}"
        + (f" ({s['bad_rows']} counters row(s) left out: not valid)" if s.get("bad_rows") else "")
    )
