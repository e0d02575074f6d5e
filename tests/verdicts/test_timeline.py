from __future__ import annotations

from async_audit.verdicts import breakdown
from async_audit.verdicts.timeline import union_ms


def _trace(events, wall=100.0, cpu=10.0):
    return {"wall_ms": wall, "cpu_ms": cpu, "events": events, "summary": {"hop_ms": 2.0, "hops": 3}}


def _ev(kind, start, end, **kw):
    return {"kind": kind, "start_ms": start, "end_ms": end, "duration_ms": end - start, **kw}


def test_union_counts_overlaps_once():
    assert union_ms([(0, 10), (5, 15), (20, 30)]) == 25
    assert union_ms([]) == 0


def test_overlapping_io_of_different_kinds_is_counted_once_and_kinds_add_up():
    b = breakdown(
        _trace(
            [
                _ev("http", 0, 40),
                _ev("http", 20, 60),  # overlaps the first call
                _ev("query", 50, 70),  # overlaps the second call for 10 ms
                _ev("cache", 80, 85),
                _ev("blocking", 90, 95, category="file"),
                _ev("blocking", 95, 96, category="thread"),  # our own thread start: not I/O
            ]
        )
    )
    assert b.io_ms == 60 + 10 + 5 + 5
    assert b.io_by_kind["http"] == 60 and b.io_by_kind["db"] == 10
    assert b.io_by_kind["cache"] == 5 and b.io_by_kind["file"] == 5
    assert abs(sum(b.io_by_kind.values()) - b.io_ms) < 1e-9
    assert b.other_ms == 100 - 80 - 10 - 2


def test_a_chatty_request_with_many_events_gets_the_same_total():
    events = [_ev("query", i, i + 0.5) for i in range(500)] + [_ev("http", 100, 300)]
    b = breakdown(_trace(events, wall=600))
    # Queries outside the HTTP call: 100 before it, 200 after it, 0.5 ms each.
    assert abs(b.io_ms - (200 + 100 * 0.5 + 200 * 0.5)) < 1e-6
    assert abs(b.io_by_kind["db"] - 150) < 1e-6
