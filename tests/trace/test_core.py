from __future__ import annotations

import asyncio
import json

from async_audit.trace import Hop, Query, current_trace, finish_trace, start_trace, tag, traced
from async_audit.trace.core import tracing_active


def test_no_trace_is_active_outside_a_request():
    assert current_trace() is None
    assert not tracing_active()


def test_a_trace_is_current_inside_and_gone_after():
    with traced("GET /x") as trace:
        assert current_trace() is trace
        assert tracing_active()
        tag("tenant", "acme")
    assert current_trace() is None
    assert trace.finished
    assert trace.tags == {"tenant": "acme"}
    assert trace.wall > 0


def test_tag_without_a_trace_does_nothing():
    tag("ignored", 1)  # must not raise


def test_concurrent_tasks_each_see_their_own_trace():
    seen: dict[int, object] = {}

    async def request(n: int) -> None:
        with traced(f"r{n}") as trace:
            await asyncio.sleep(0.01 * (n % 3))
            seen[n] = (trace, current_trace())

    async def main() -> None:
        await asyncio.gather(*(request(n) for n in range(20)))

    asyncio.run(main())
    assert all(own is cur for own, cur in seen.values())
    assert len({id(own) for own, _ in seen.values()}) == 20


def test_traces_sharing_a_thread_say_so_and_a_lone_one_does_not():
    with traced() as lone:
        pass
    assert not lone.shared_thread

    async def main() -> list:
        async def one():
            with traced() as t:
                await asyncio.sleep(0.01)
            return t

        return await asyncio.gather(one(), one())

    a, b = asyncio.run(main())
    assert a.shared_thread and b.shared_thread
    # The loop thread's CPU is not split between them: only the hops' threads count.
    assert a.cpu == a.hop_cpu


def test_events_beyond_the_cap_are_counted_as_dropped():
    trace, token = start_trace(max_events=3)
    for i in range(5):
        trace.add(
            Query(start=float(i), end=float(i) + 0.001, thread=1, on_loop=False, sql="SELECT 1")
        )
    finish_trace(trace, token)
    assert len(trace.events) == 3
    assert trace.dropped == 2
    assert trace.summary()["dropped_events"] == 2


def test_to_dict_is_json_safe_and_hides_sql_unless_asked():
    with traced("GET /x") as trace:
        t0 = trace.t0
        trace.add(
            Query(
                start=t0 + 0.001,
                end=t0 + 0.003,
                thread=1,
                on_loop=False,
                sql="SELECT * FROM t WHERE name = 'alice-secret'",
            )
        )
        trace.add(
            Hop(
                start=t0,
                end=t0 + 0.002,
                thread=1,
                on_loop=True,
                target="m.f",
                run_start=t0 + 0.0005,
            )
        )
    data = json.loads(json.dumps(trace.to_dict()))
    query = next(e for e in data["events"] if e["kind"] == "query")
    assert query["fingerprint"] == "SELECT * FROM t WHERE name = ?"
    assert "sql" not in query and "alice-secret" not in json.dumps(data)
    assert query["start_ms"] == 1.0 and query["duration_ms"] == 2.0
    hop = next(e for e in data["events"] if e["kind"] == "hop")
    assert hop["queue_wait_ms"] == 0.5
    assert data["summary"]["queries"] == 1 and data["summary"]["hops"] == 1
    assert trace.to_dict(private=True)["events"][1]["sql"].endswith("'alice-secret'")


def test_finishing_twice_is_harmless():
    trace, token = start_trace()
    finish_trace(trace, token)
    end = trace.t1
    finish_trace(trace, token)
    assert trace.t1 == end
    assert not tracing_active()
