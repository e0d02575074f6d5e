"""``build_report``: stored samples of error responses are not judged as the view's work."""

from __future__ import annotations

from async_audit.report import build_report


def _sample(status: int, wall_ms: float = 40.0) -> dict:
    return {
        "route": "cpu/", "view": "app.views.cpu", "view_is_async": False, "label": "GET /cpu/",
        "status": status, "wall_ms": wall_ms, "cpu_ms": wall_ms, "owner_cpu_ms": wall_ms,
        "shared_thread": False, "summary": {"dropped_events": 0},
        "events": [{"kind": "view", "start_ms": 0.0, "end_ms": wall_ms, "duration_ms": wall_ms}],
    }  # fmt: skip


def test_stored_error_responses_are_counted_in_a_note_and_left_out_of_the_route_figures():
    report = build_report(None, (), [_sample(200), _sample(200), _sample(500, 900.0)])
    (route,) = report["routes"]
    assert route["samples"] == 2 and route["p95_ms"] == 40.0
    assert any(n.startswith("1 stored sample(s) of error responses") for n in report["notes"])


def test_a_route_seen_only_in_error_responses_gets_no_verdict():
    report = build_report(None, (), [_sample(500)])
    assert report["routes"] == [] and report["findings"] == []
