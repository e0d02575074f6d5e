"""200 concurrent requests through a real uvicorn: every trace holds exactly its own events."""

from __future__ import annotations

import asyncio
import inspect
import json
import time

import httpx
import pytest

from tests.conftest import run_uvicorn
from tests.testapp import views

pytestmark = pytest.mark.server

N = 200


def _sleep_line() -> int:
    lines, first = inspect.getsourcelines(views.async_tagged)
    return first + next(i for i, line in enumerate(lines) if "time.sleep" in line)


def _read_traces(path, expected: int, timeout: float = 20.0) -> list[dict]:
    # The trace is written when the app returns, just after the client has its response.
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= expected or time.monotonic() > deadline:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)


@pytest.fixture(scope="module")
def traces(upstream, tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("traces") / "traces.jsonl"
    env = {
        "AA_TRACE_OUT": str(out),
        "AA_UPSTREAM": upstream,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    with run_uvicorn("tests.e2e.app:app", env) as base:

        async def main() -> list[int]:
            limits = httpx.Limits(max_connections=N + 10, max_keepalive_connections=N + 10)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
                # Warm up once so first-request imports do not skew the run.
                await client.get("/async/")
                responses = await asyncio.gather(
                    *(
                        client.get(f"/tagged/{'sync' if rid % 2 else 'async'}/{rid}/")
                        for rid in range(1, N + 1)
                    )
                )
            return [r.status_code for r in responses]

        statuses = asyncio.run(main())
        assert statuses == [200] * N
        found = _read_traces(out, N + 1)
    return [t for t in found if t["route"] != "async/"]


def test_every_request_produced_one_trace(traces):
    assert sorted(t["tags"]["rid"] for t in traces) == list(range(1, N + 1))
    # They really ran at once: most of them shared the loop thread with another trace.
    assert sum(t["shared_thread"] for t in traces) > N // 2


def test_every_trace_holds_exactly_its_own_events(traces):
    leaks = []
    for t in traces:
        rid = t["tags"]["rid"]
        kinds = {
            k: [e for e in t["events"] if e["kind"] == k]
            for k in ("query", "http", "cache", "blocking")
        }
        is_sync = t["route"] == "tagged/sync/<int:rid>/"
        expected_sql = (
            [f"SELECT {rid}"] if is_sync else sorted([f"SELECT {rid}", f"SELECT {rid + 100000}"])
        )
        if sorted(q["sql"] for q in kinds["query"]) != expected_sql:
            leaks.append((rid, "query", [q["sql"] for q in kinds["query"]]))
        if [h["path"] for h in kinds["http"]] != [f"/echo/{rid}"]:
            leaks.append((rid, "http", [h["path"] for h in kinds["http"]]))
        if [c["op"] for c in kinds["cache"]] != (["get"] if is_sync else ["aget"]):
            leaks.append((rid, "cache", [c["op"] for c in kinds["cache"]]))
        sleeps = [b for b in kinds["blocking"] if b["call"] == "time.sleep"]
        if len(sleeps) != (0 if is_sync else 1):
            leaks.append((rid, "blocking", sleeps))
    assert leaks == []


def test_hop_counts_are_the_default_stack_plus_what_each_view_adds(traces):
    for t in traces:
        # 16 for a sync view; an async view: 15, plus its thread_sensitive=False hop and aget.
        expected = 16 if t["route"] == "tagged/sync/<int:rid>/" else 17
        assert t["summary"]["hops"] == expected, t["tags"]


def test_sync_views_block_the_loop_only_where_asgiref_starts_their_thread(traces):
    line = _sleep_line()
    for t in traces:
        blocking = [e for e in t["events"] if e["kind"] == "blocking"]
        # asgiref starts a thread per request for its sync work, on the loop (and executors
        # grow on demand): that wait is real, and the stack says whose it is.
        for b in blocking:
            if b["call"] == "threading.Thread.start":
                files = [f[0] for f in b["stack"]]
                assert any(f.endswith("asgiref/sync.py") or f == views.__file__ for f in files)
                assert b["site"] is None or b["site"][0] == views.__file__
        own = [b for b in blocking if b["call"] != "threading.Thread.start"]
        if t["route"] == "tagged/sync/<int:rid>/":
            assert own == [], json.dumps(own)[:2000]
        else:
            (sleep,) = [b for b in own if b["call"] == "time.sleep"]
            assert sleep["site"] == [views.__file__, line, "async_tagged"]


def test_totals_add_up(traces):
    for t in traces:
        events, summary = t["events"], t["summary"]
        for kind, key in (
            ("hop", "hops"),
            ("query", "queries"),
            ("http", "http_calls"),
            ("cache", "cache_calls"),
        ):
            assert summary[key] == sum(e["kind"] == kind for e in events)
        db_ms = sum(e["duration_ms"] for e in events if e["kind"] == "query")
        assert summary["db_ms"] == pytest.approx(db_ms, abs=0.01)
        # A loop stall is closed by the loop's next tick, which may come after the request.
        outside = [
            e
            for e in events
            if e["kind"] != "loop_lag" and not 0 <= e["start_ms"] <= e["end_ms"] <= t["wall_ms"]
        ]
        assert outside == [], (t["wall_ms"], outside)
        assert summary["dropped_events"] == 0 and summary["instrument_errors"] == 0
        assert t["status"] == 200 and t["view"].startswith("tests.testapp.views.")
        assert "secret" not in json.dumps(t)  # query strings never recorded
