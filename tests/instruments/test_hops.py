from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from asgiref.sync import (
    AsyncToSync,
    SyncToAsync,
    ThreadSensitiveContext,
    async_to_sync,
    sync_to_async,
)
from django.db import connection

from async_audit import instruments
from async_audit.trace import traced
from tests.helpers import run_traced

pytestmark = pytest.mark.usefixtures("installed")


def _count_asgiref_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A direct count of asgiref calls, patched beneath our instruments."""
    instruments.uninstall()
    counts = {"sync_to_async": 0, "async_to_sync": 0}
    s2a, a2s = SyncToAsync.__call__, AsyncToSync.__call__

    async def counting_s2a(self, *args, **kwargs):
        counts["sync_to_async"] += 1
        return await s2a(self, *args, **kwargs)

    def counting_a2s(self, *args, **kwargs):
        counts["async_to_sync"] += 1
        return a2s(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counting_s2a)
    monkeypatch.setattr(AsyncToSync, "__call__", counting_a2s)
    instruments.install()
    return counts


@pytest.mark.parametrize(("path", "expected"), [("/async/", 15), ("/sync/", 16)])
def test_default_middleware_hops_match_a_direct_count_of_asgiref_calls(monkeypatch, path, expected):
    counts = _count_asgiref_calls(monkeypatch)
    trace, response = run_traced(path)
    assert response.status == 200
    direct = counts["sync_to_async"] + counts["async_to_sync"]
    assert direct == expected
    assert len(trace.hops) == direct
    assert trace.summary()["hops"] == expected


def test_each_middleware_hook_hop_is_named_by_its_target():
    trace, _ = run_traced("/sync/")
    targets = [h.target for h in trace.hops]
    assert targets[0].startswith("django.dispatch.dispatcher.Signal.asend")
    assert "django.middleware.csrf.CsrfViewMiddleware.process_view" in targets
    assert "tests.testapp.views.sync_view" in targets
    assert targets[-1] == "django.http.response.HttpResponse.close"
    assert targets.count("django.middleware.csrf.CsrfViewMiddleware.process_response") == 1
    # A Django-internal hop points at the Django line that made it, not at the server.
    mixin_hop = next(
        h for h in trace.hops if h.target.endswith("SecurityMiddleware.process_request")
    )
    assert mixin_hop.site is not None and mixin_hop.site[0].endswith("django/utils/deprecation.py")


def test_a_hop_knows_its_queue_wait_thread_time_and_call_site():
    def work() -> None:
        sum(range(20000))

    async def main():
        with traced() as trace:
            await sync_to_async(work)()
        return trace

    trace = asyncio.run(main())
    (hop,) = trace.hops
    assert hop.direction == "sync_to_async" and hop.thread_sensitive
    assert hop.target.endswith(
        "test_a_hop_knows_its_queue_wait_thread_time_and_call_site.<locals>.work"
    )
    assert hop.queue_wait is not None and hop.queue_wait >= 0
    assert hop.cpu is not None and hop.cpu > 0
    assert hop.run_thread != hop.thread
    assert hop.site is not None and hop.site[0] == __file__ and hop.site[2] == "main"


def _hop_of(func):
    async def main():
        with traced() as trace:
            await sync_to_async(func)()
        return trace

    (hop,) = asyncio.run(main()).hops
    return hop


def test_a_hop_that_waits_in_its_thread_has_little_cpu_whatever_its_length(monkeypatch):
    hop = _hop_of(lambda: time.sleep(0.01))
    run = hop.run_end - hop.run_start
    assert run >= 0.01 and hop.cpu is not None and hop.cpu < run / 2
    # Only a run too short to have waited is counted as CPU without reading the clock: with
    # that bound raised past the sleep, the same hop is all CPU.
    monkeypatch.setattr("async_audit.instruments.hops._ALL_CPU_RUN", 1.0)
    hop = _hop_of(lambda: time.sleep(0.01))
    assert hop.cpu == hop.run_end - hop.run_start


def test_a_short_hop_is_all_cpu_and_never_more_than_its_run():
    for _ in range(20):
        hop = _hop_of(lambda: None)
        assert hop.cpu is not None and 0 <= hop.cpu <= hop.run_end - hop.run_start + 1e-4


def test_concurrent_hops_in_one_request_queue_for_its_thread():
    def slow() -> None:
        time.sleep(0.02)

    async def main():
        with traced() as trace:
            async with ThreadSensitiveContext():
                await asyncio.gather(*(sync_to_async(slow)() for _ in range(3)))
        return trace

    trace = asyncio.run(main())
    hops = sorted(trace.hops, key=lambda h: h.run_start)
    assert len(hops) == 3 and len({h.run_thread for h in hops}) == 1
    # One thread per request: each hop waited until the one before it had run, and its
    # queue wait says so. (Orders of events, not durations: on a loaded machine the loop
    # may submit the second hop milliseconds after the first.)
    for before, after in itertools.pairwise(hops):
        assert after.run_start >= before.run_end
        assert after.queue_wait == pytest.approx(after.run_start - after.start)
        assert after.queue_wait >= before.run_end - after.start
    assert trace.summary()["hop_queue_wait_max_ms"] == pytest.approx(
        max(h.queue_wait for h in hops) * 1000, abs=0.001
    )


def test_async_to_sync_is_recorded_from_a_sync_thread():
    async def inner() -> int:
        await asyncio.sleep(0)
        return 7

    with traced() as trace:
        assert async_to_sync(inner)() == 7
    (hop,) = trace.hops
    assert hop.direction == "async_to_sync"
    assert hop.target.endswith("inner") and hop.end is not None


def test_a_failing_hop_records_the_error_and_still_raises():
    def boom() -> None:
        raise KeyError("x")

    async def main():
        with traced() as trace, pytest.raises(KeyError):
            await sync_to_async(boom)()
        return trace

    (hop,) = asyncio.run(main()).hops
    assert hop.error == "KeyError"


def _tagged_query(tag: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {tag}")


@pytest.mark.django_db(transaction=True)
def test_queries_in_unsensitive_hops_and_to_thread_land_in_their_own_request():
    async def request(n: int):
        with traced() as trace:
            await sync_to_async(_tagged_query, thread_sensitive=False)(n)
            await asyncio.to_thread(_tagged_query, 1000 + n)
        return n, trace

    async def main():
        return await asyncio.gather(*(request(n) for n in range(1, 25)))

    for n, trace in asyncio.run(main()):
        assert sorted(q.sql for q in trace.queries) == sorted([f"SELECT {n}", f"SELECT {1000 + n}"])
        assert all(not q.on_loop for q in trace.queries)
        (hop,) = trace.hops
        assert not hop.thread_sensitive


def test_the_inline_hop_record_sets_every_field_of_a_hop():
    from dataclasses import fields

    from async_audit.instruments import hops
    from async_audit.trace.events import Hop

    assert sorted(hops._HOP_FIELDS) == sorted(f.name for f in fields(Hop))

    async def main():
        with traced() as trace:
            await sync_to_async(lambda: None)()
        return trace

    (hop,) = asyncio.run(main()).hops
    for name in hops._HOP_FIELDS:
        getattr(hop, name)  # an unset slot would raise AttributeError
    assert hop.run_start is not None and hop.error is None and hop.nested is False


def test_a_call_asgiref_refuses_before_it_hops_is_no_hop_and_leaves_nothing_open():
    from async_audit.instruments import hops

    async def main():
        # asgiref refuses a thread-sensitive call that would wait for its own single thread
        # (every supported asgiref does, before it reads ``thread_handler``).
        SyncToAsync.deadlock_context.set(True)
        with traced() as trace, pytest.raises(RuntimeError, match="deadlock"):
            await sync_to_async(lambda: None)()
        SyncToAsync.deadlock_context.set(False)
        await sync_to_async(lambda: None)()  # the next call hops as usual, untraced
        with traced() as after:
            await sync_to_async(lambda: None)()
        return trace, after

    trace, after = asyncio.run(main())
    assert trace.hops == [] and hops._open == {}
    (hop,) = after.hops
    assert hop.end is not None and hop.error is None


def test_a_cancelled_hop_names_the_cancellation_and_a_handled_error_is_not_inherited():
    import threading

    release = threading.Event()

    async def main():
        with traced() as trace:
            task = asyncio.ensure_future(sync_to_async(release.wait)(5))
            await asyncio.sleep(0.05)
            task.cancel()
            release.set()
            with pytest.raises(asyncio.CancelledError):
                await task
            try:
                raise KeyError("handled")
            except KeyError:
                await sync_to_async(lambda: None)()
        return trace

    cancelled, handled = sorted(asyncio.run(main()).hops, key=lambda h: h.start)
    assert cancelled.error == "CancelledError" and cancelled.end is not None
    assert handled.error is None and handled.end is not None
