"""Route verdicts on crafted traces: shares are of time really accounted for, never over 100%."""

from __future__ import annotations

from async_audit.verdicts import judge_route


def _trace(wall, cpu, events=(), is_async=False):
    return {"route": "r/", "view": "app.views.v", "view_is_async": is_async, "wall_ms": wall,
            "cpu_ms": cpu, "summary": {"hops": len([e for e in events if e["kind"] == "hop"])},
            "events": list(events)}  # fmt: skip


def _http(start, end):
    return {"kind": "http", "start_ms": start, "end_ms": end, "duration_ms": end - start,
            "method": "GET", "host": "api.example", "path": "/x"}  # fmt: skip


def _finding(verdict, code):
    return next(f for f in verdict.findings if f.code == code)


def test_a_cpu_bound_view_stays_cpu_bound_when_a_busy_machine_stretches_its_wall_time():
    # 40 ms of CPU; on a loaded machine the same work takes 3x the wall time, waiting for a CPU.
    for wall in (41.0, 120.0):
        v = judge_route([_trace(wall, 40.0)] * 3)
        assert v.verdict == "keep-sync"
        assert _finding(v, "AA307").evidence["cpu_bound"] is True, wall


def test_an_io_bound_view_stays_io_bound_when_a_busy_machine_stretches_its_wall_time():
    for wall in (52.0, 150.0):
        v = judge_route([_trace(wall, 20.0, [_http(5.0, 35.0)])] * 3)
        assert "AA305" in {f.code for f in v.findings}, wall


def test_overlapping_hops_are_counted_once_in_the_share_of_wall_time():
    # An async view gathering eight thread-insensitive hops that all ran at once.
    view = {"kind": "view", "start_ms": 0.0, "end_ms": 100.0, "duration_ms": 100.0,
            "name": "app.views.v", "is_async": True}  # fmt: skip
    hops = [
        {"kind": "hop", "direction": "sync_to_async", "target": f"app.f{i}", "start_ms": 5.0 + i,
         "end_ms": 95.0, "duration_ms": 90.0 - i, "queue_wait_ms": 0.0, "run_ms": 89.0 - i,
         "overhead_ms": 1.0, "run_thread": 100 + i, "nested": False, "site": None}
        for i in range(8)
    ]  # fmt: skip
    v = judge_route([_trace(101.0, 5.0, [view, *hops], is_async=True)] * 3)
    finding = _finding(v, "AA303")
    assert finding.evidence["view_hops"] == 8
    assert 0.85 <= finding.evidence["view_hop_share"] <= 1.0
    assert "89% of the wall time" in finding.message  # 90 of 101 ms


def _lag(duration, queued=None, cpu=None):
    return {"kind": "loop_lag", "start_ms": 10.0, "end_ms": 10.0 + duration, "duration_ms": duration,
            "site": ["/srv/app/views.py", 3, "v"], "stack": [], "cpu_ms": cpu, "queued_ms": queued}  # fmt: skip


def test_a_stall_that_was_mostly_waiting_for_a_cpu_is_not_aa302():
    v = judge_route([_trace(200.0, 20.0, [_lag(120.0, queued=100.0, cpu=15.0)], is_async=True)])
    assert "AA302" not in {f.code for f in v.findings} and v.verdict != "fix-first"


def test_a_stall_of_the_loops_own_work_is_aa302_and_says_how_much_was_cpu():
    v = judge_route([_trace(200.0, 90.0, [_lag(120.0, queued=5.0, cpu=80.0)], is_async=True)])
    finding = _finding(v, "AA302")
    assert finding.evidence["duration_ms"] == 115.0 and v.verdict == "fix-first"
    assert "80 ms of CPU work" in finding.message


def test_a_few_ms_of_cpu_around_a_wait_no_instrument_sees_is_not_cpu_bound():
    # A sync view sleeping 30 ms in its thread: no I/O seen, 4 ms of CPU. Not CPU-bound.
    v = judge_route([_trace(36.0, 4.0)] * 3)
    finding = _finding(v, "AA307")
    assert finding.evidence["cpu_bound"] is False and "little to wait for" in finding.message


def _blocking(start, end, site):
    return {"kind": "blocking", "start_ms": start, "end_ms": end, "duration_ms": end - start,
            "on_loop": True, "thread": 1, "call": "threading.Thread.start", "category": "thread",
            "site": site, "stack": []}  # fmt: skip


def test_a_long_stall_is_aa302_even_when_a_brief_library_call_falls_inside_its_window():
    # Under load the heartbeat that ends a stall comes late, and its window takes in the
    # loop's next callbacks: asgiref starting a thread for 2 ms explains nothing of 150 ms.
    asgiref = _blocking(150.0, 152.0, None)
    v = judge_route([_trace(200.0, 150.0, [_lag(150.0, cpu=150.0), asgiref], is_async=True)])
    assert "AA302" in {f.code for f in v.findings} and v.verdict == "fix-first"


def test_a_stall_a_blocking_call_explains_is_reported_once():
    # time.sleep in the view: AA301 says it; the stall it caused is not a second finding.
    sleep = {**_blocking(12.0, 130.0, ["/srv/app/views.py", 3, "v"]), "call": "time.sleep"}
    v = judge_route([_trace(200.0, 5.0, [_lag(120.0, cpu=1.0), sleep], is_async=True)])
    assert {f.code for f in v.findings} >= {"AA301"} and "AA302" not in {f.code for f in v.findings}
    # A library call that accounts for most of the stall explains it too.
    lib = _blocking(12.0, 120.0, None)
    v = judge_route([_trace(200.0, 5.0, [_lag(120.0, cpu=1.0), lib], is_async=True)])
    assert "AA302" not in {f.code for f in v.findings}
