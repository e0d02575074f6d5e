from __future__ import annotations

import asyncio

from async_audit.trace import current_trace
from async_audit.trace.owner import OwnedTrace


def test_an_owned_trace_is_current_until_finished_and_keeps_its_first_status():
    owned = OwnedTrace("GET /")
    assert current_trace() is owned.trace
    trace = owned.finish(200)
    assert current_trace() is None
    assert owned.finish(500) is trace and trace.status == 200


def test_the_root_route_is_named_as_the_empty_pattern_not_left_unnamed():
    owned = OwnedTrace("GET /")
    assert owned.name_from_path("/")
    owned.finish(200)
    assert owned.trace.route == ""
    assert owned.trace.view == "tests.testapp.views.home"
    assert owned.export()["route"] == ""


def test_a_path_no_pattern_matches_leaves_the_trace_unnamed():
    owned = OwnedTrace("GET /nope")
    assert not owned.name_from_path("/no/such/page/")
    owned.finish(404)
    assert owned.trace.route is None


def test_an_owned_trace_finished_from_another_task_leaves_no_trace_current():
    async def main() -> None:
        owned = OwnedTrace("GET /x")
        await asyncio.get_running_loop().create_task(_finish(owned))
        assert owned.finished

    async def _finish(owned: OwnedTrace) -> None:
        owned.finish(204)

    asyncio.run(main())


def test_a_nested_owner_sees_its_own_window_and_the_outer_one_keeps_every_event():
    from async_audit.trace.events import Query

    def query(t: float) -> Query:
        return Query(start=t, end=t + 0.001, thread=0, on_loop=False, sql="SELECT 1")

    outer = OwnedTrace("GET / (probe)")
    outer.trace.add(query(1.0))
    inner = OwnedTrace("GET / (panel)")
    assert current_trace() is inner.trace
    inner.trace.add(query(2.0))
    inner.finish(200)
    assert current_trace() is outer.trace
    outer.trace.add(query(3.0))
    outer.finish(200)
    assert [q.start for q in inner.trace.queries] == [2.0]
    assert [q.start for q in outer.trace.queries] == [1.0, 2.0, 3.0]
    # One request, not two rivals for the thread's CPU time.
    assert not outer.trace.shared_thread and not inner.trace.shared_thread
