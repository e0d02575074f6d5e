"""Where a request's wall time went: I/O by kind, CPU, hopping, and the rest.

Works on a trace's dict form (``Trace.to_dict()``), the shape stored samples have too.
Overlapping I/O is counted once: a sweep over the intervals gives each moment to one kind,
by priority, so the kinds add up to the total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["IO_KINDS", "Breakdown", "breakdown", "io_intervals", "union_ms"]

IO_KINDS = ("http", "db", "cache", "file", "sleep", "other")
_BLOCKING_KIND = {"sleep": "sleep", "file": "file", "sqlite": "db"}
_EVENT_KIND = {"query": "db", "http": "http", "cache": "cache"}

Interval = tuple[float, float, str]


@dataclass
class Breakdown:
    wall_ms: float
    cpu_ms: float
    io_ms: float
    io_by_kind: dict[str, float] = field(default_factory=dict)
    hop_ms: float = 0.0  # what hopping cost (queue waits and hand-offs), not the work inside
    hops: int = 0

    @property
    def io_share(self) -> float:
        return self.io_ms / self.wall_ms if self.wall_ms > 0 else 0.0

    @property
    def cpu_share(self) -> float:
        return self.cpu_ms / self.wall_ms if self.wall_ms > 0 else 0.0

    @property
    def other_ms(self) -> float:
        """Wall time neither I/O we saw, nor CPU, nor hopping: waits we cannot name."""
        return max(0.0, self.wall_ms - self.io_ms - self.cpu_ms - self.hop_ms)


def io_intervals(events: Iterable[dict[str, Any]]) -> list[Interval]:
    out: list[Interval] = []
    for e in events:
        kind = _EVENT_KIND.get(e["kind"])
        if kind is None and e["kind"] == "blocking":
            if e.get("category") in ("lock", "thread"):
                continue  # waiting for our own threads, not I/O
            kind = _BLOCKING_KIND.get(e.get("category", ""), "other")
        if kind is not None and e.get("end_ms") is not None:
            out.append((float(e["start_ms"]), float(e["end_ms"]), kind))
    return out


def union_ms(intervals: Iterable[tuple[float, float]]) -> float:
    total, cur_start, cur_end = 0.0, None, None
    for start, end in sorted(intervals):
        if cur_end is None or start > cur_end:
            if cur_end is not None and cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None and cur_start is not None:
        total += cur_end - cur_start
    return total


def _split(intervals: list[Interval]) -> dict[str, float]:
    """Sweep the interval edges once, keeping how many intervals of each kind are open."""
    out = dict.fromkeys(IO_KINDS, 0.0)
    edges: list[tuple[float, int, str]] = []
    for start, end, kind in intervals:
        if end > start:
            edges.append((start, 1, kind))
            edges.append((end, -1, kind))
    edges.sort(key=lambda e: (e[0], e[1]))
    open_count = dict.fromkeys(IO_KINDS, 0)
    last = 0.0
    for t, step, kind in edges:
        live = next((k for k in IO_KINDS if open_count[k] > 0), None)
        if live is not None:
            out[live] += t - last
        open_count[kind] += step
        last = t
    return out


def breakdown(trace: dict[str, Any]) -> Breakdown:
    events = trace["events"]
    intervals = io_intervals(events)
    by_kind = _split(intervals)
    summary = trace.get("summary", {})
    return Breakdown(
        wall_ms=float(trace["wall_ms"]),
        cpu_ms=float(trace.get("cpu_ms") or 0.0),
        io_ms=sum(by_kind.values()),
        io_by_kind={k: round(v, 3) for k, v in by_kind.items()},
        hop_ms=float(summary.get("hop_ms", 0.0)),
        hops=int(summary.get("hops", 0)),
    )
