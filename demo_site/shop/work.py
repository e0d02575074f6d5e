"""Pure-Python CPU work of a fixed size, so a sync view and its async twin do the same work."""

from __future__ import annotations

import time

__all__ = ["CPU_LIMIT", "LOOP_STALL_MS", "count_primes", "count_primes_for"]

# About 50 ms on a 2020s laptop core, 2-3x that on a slow CI runner. A fixed amount of work,
# not a duration: the paired views must do the same thing for the latency comparison.
CPU_LIMIT = 34_000
# CPU time, not work: well past the event-loop watchdog's LOOP_LAG_MS (50 ms) on any
# machine (a fixed 60,000 took 120 ms on one machine and 61 ms on a faster one, where the
# watchdog, probing every few ms, could measure less than 50 of it).
LOOP_STALL_MS = 150.0


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


def count_primes_for(ms: float) -> int:
    """``count_primes(5_000)`` again and again until the thread has spent ``ms`` of CPU time:
    how many rounds it took."""
    end, rounds = time.thread_time() + ms / 1000, 0
    while time.thread_time() < end:
        count_primes(5_000)
        rounds += 1
    return rounds
