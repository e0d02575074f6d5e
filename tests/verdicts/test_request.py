from __future__ import annotations

from async_audit.verdicts import facts


def _hop(start, wait, run, thread=7, target="m.f"):
    return {"kind": "hop", "direction": "sync_to_async", "target": target, "start_ms": start,
            "end_ms": start + wait + run, "duration_ms": wait + run, "queue_wait_ms": wait, "run_ms": run,
            "overhead_ms": wait, "run_thread": thread, "nested": False, "site": None}  # fmt: skip


def _trace(*events):
    return {
        "wall_ms": 100.0,
        "cpu_ms": 1.0,
        "view_is_async": True,
        "events": list(events),
        "summary": {},
    }


def test_a_wait_behind_another_hop_of_the_request_is_contention():
    f = facts(_trace(_hop(0, 0, 20), _hop(1, 19, 5)))
    assert f.max_queue_wait_ms == 19


def test_a_wait_with_nothing_else_on_the_thread_is_not_contention():
    # e.g. the thread being started, or a busy machine: not what AA304 reports.
    assert facts(_trace(_hop(0, 12, 5))).max_queue_wait_ms == 0


def test_hops_on_different_threads_do_not_contend():
    assert facts(_trace(_hop(0, 0, 20, thread=1), _hop(1, 19, 5, thread=2))).max_queue_wait_ms == 0


def test_a_wait_inside_the_hop_that_runs_it_is_not_contention():
    # A sync middleware's hop runs the inner chain on its thread; an inner hop queued there
    # waits inside its parent's run, not behind a rival.
    outer = _hop(0, 0, 100)
    assert facts(_trace(outer, _hop(10, 12, 5))).max_queue_wait_ms == 0
    # A rival beside them still counts.
    assert facts(_trace(outer, _hop(10, 0, 30), _hop(11, 29, 5))).max_queue_wait_ms == 29
