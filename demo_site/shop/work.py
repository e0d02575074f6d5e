"""Pure-Python CPU work of a fixed size, so a sync view and its async twin do the same work."""

from __future__ import annotations

__all__ = ["CPU_LIMIT", "LOOP_STALL_LIMIT", "count_primes"]

# About 50 ms on a 2020s laptop core, 2-3x that on a slow CI runner. A fixed amount of work,
# not a duration: the paired views must do the same thing for the latency comparison.
CPU_LIMIT = 34_000
# About 120 ms: long enough for the event-loop watchdog (LOOP_LAG_MS, 50 ms) to see it.
LOOP_STALL_LIMIT = 60_000


def count_primes(limit: int) -> int:
    """Primes below ``limit`` by trial division: slow on purpose, no I/O, no C helpers."""
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count
