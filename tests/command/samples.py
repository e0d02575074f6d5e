"""A stored sample as the sampling middleware writes it: a sync view waiting on 3 calls."""

from __future__ import annotations

from typing import Any


def sample_trace(wall_ms: float) -> dict[str, Any]:
    third = wall_ms * 0.3
    events: list[dict[str, Any]] = [
        {"kind": "hop", "start_ms": 1.0, "end_ms": wall_ms - 1, "duration_ms": wall_ms - 2, "direction": "sync_to_async",
         "target": "tests.command.project.fanout", "queue_wait_ms": 0.2, "run_ms": wall_ms - 2.4, "overhead_ms": 0.4,
         "nested": False, "site": None},
    ] + [
        {"kind": "http", "start_ms": 2.0 + i * third, "end_ms": 2.0 + (i + 1) * third - 0.5, "duration_ms": third - 0.5,
         "method": "GET", "host": "api.internal", "path": f"/items/{i}", "status": 200}
        for i in range(3)
    ]  # fmt: skip
    return {
        "wall_ms": wall_ms,
        "cpu_ms": 3.0,
        "route": "fanout/",
        "view": "tests.command.project.fanout",
        "view_is_async": False,
        "summary": {"hops": 1, "hop_ms": 0.4},
        "events": events,
    }
