"""The thresholds verdicts use, with the defaults documented in ``async_audit.conf``."""

from __future__ import annotations

from dataclasses import dataclass, fields

from async_audit import conf

__all__ = ["Thresholds"]


@dataclass(frozen=True)
class Thresholds:
    hops_per_request: int = conf.DEFAULTS["HOPS_PER_REQUEST"]
    hop_share: float = conf.DEFAULTS["HOP_SHARE"]
    queue_wait_ms: float = conf.DEFAULTS["QUEUE_WAIT_MS"]
    io_share: float = conf.DEFAULTS["IO_SHARE"]
    io_ms: float = conf.DEFAULTS["IO_MS"]
    fanout_min_calls: int = conf.DEFAULTS["FANOUT_MIN_CALLS"]
    fanout_min_ms: float = conf.DEFAULTS["FANOUT_MIN_MS"]
    loop_lag_ms: float = conf.DEFAULTS["LOOP_LAG_MS"]
    # Share of the accounted time (CPU + I/O seen) on the CPU above which a view is CPU-bound (AA307).
    cpu_share: float = 0.5
    # ... and CPU time it must reach: time no instrument sees (a sleep in the view's thread)
    # is left out of the accounted time, so a few ms of CPU alone is no CPU-bound view.
    cpu_ms: float = 20.0

    @classmethod
    def from_settings(cls) -> Thresholds:
        """From ``settings.ASYNC_AUDIT`` (bad values fall back to the defaults)."""
        return cls(
            **{
                f.name: conf.get(f.name.upper())
                for f in fields(cls)
                if f.name.upper() in conf.DEFAULTS
            }
        )
