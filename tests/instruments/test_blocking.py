from __future__ import annotations

import asyncio
import socket
import time

import pytest
from asgiref.sync import sync_to_async

from async_audit.trace import traced
from tests.helpers import run_traced
from tests.testapp import views

pytestmark = pytest.mark.usefixtures("installed")


def _line_of(func, text: str) -> int:
    import inspect

    lines, first = inspect.getsourcelines(func)
    return first + next(i for i, line in enumerate(lines) if text in line)


def test_sleep_in_an_async_view_is_recorded_with_the_views_line():
    trace, response = run_traced("/async-sleep/")
    assert response.status == 200
    (call,) = [b for b in trace.blocking_calls if b.call == "time.sleep"]
    assert call.category == "sleep" and call.on_loop
    assert call.duration >= 0.03
    assert call.site == (views.__file__, _line_of(views.async_sleep, "time.sleep"), "async_sleep")
    assert call.stack[0][2] == "async_sleep"


def test_the_same_sleep_in_a_sync_view_is_not_a_blocking_call():
    trace, response = run_traced("/sync-sleep/")
    assert response.status == 200
    # Only asgiref's start of the request's thread may wait on the loop; nothing of the view.
    assert [b.call for b in trace.blocking_calls if b.call != "threading.Thread.start"] == []
    assert all(b.site is None for b in trace.blocking_calls)


def test_blocking_calls_inside_sync_to_async_are_not_on_the_loop():
    async def main():
        with traced() as trace:
            await sync_to_async(time.sleep)(0.01)
        return trace

    # The sleep ran in the worker; only asgiref starting that worker may wait on the loop.
    calls = [b.call for b in asyncio.run(main()).blocking_calls]
    assert [c for c in calls if c != "threading.Thread.start"] == []


def test_file_and_socket_io_on_the_loop_are_recorded_but_nonblocking_sockets_are_not(
    tmp_path, upstream
):
    path = tmp_path / "f.txt"
    path.write_text("x")
    port = int(upstream.rsplit(":", 1)[1])

    async def main():
        with traced() as trace:
            with open(path) as f:
                f.read()
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /echo/x HTTP/1.0\r\n\r\n")
            sock.recv(10)
            sock.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /echo/y HTTP/1.0\r\n\r\n")
            await reader.read()
            writer.close()
        return trace

    calls = [b.call for b in asyncio.run(main()).blocking_calls]
    assert calls[0] == "open"
    assert "socket.sendall" in calls and "socket.recv" in calls
    assert all(c not in ("socket.send", "socket.recv_into") for c in calls)  # asyncio's own I/O


def test_untraced_blocking_calls_record_nothing():
    async def main():
        time.sleep(0.001)

    asyncio.run(main())  # must simply work


def test_waits_are_recorded_only_when_they_could_really_wait():
    import threading

    event = threading.Event()

    async def main():
        with traced() as trace:
            event.wait(0)  # the non-waiting form: never a blocking call
            event.wait(0.01)  # waits 10 ms on the loop
        return trace

    calls = [b.call for b in asyncio.run(main()).blocking_calls]
    assert calls.count("threading.Event.wait") == 1


def test_a_future_and_a_semaphore_waited_on_the_loop_are_recorded_in_every_call_form():
    # The two waits asgiref and asyncio make on the loop at each hop (on a done future, with
    # timeout=0): a real wait in any of the forms their signatures allow is still recorded.
    import concurrent.futures
    import threading

    def later(action) -> None:
        threading.Timer(0.02, action).start()

    async def main():
        with traced() as trace:
            done: concurrent.futures.Future[int] = concurrent.futures.Future()
            done.set_result(1)
            assert done.result() == 1 and done.result(0) == 1  # cannot wait
            for call in (
                lambda f: f.result(),
                lambda f: f.result(5),
                lambda f: f.result(timeout=5),
            ):
                pending: concurrent.futures.Future[int] = concurrent.futures.Future()
                later(lambda f=pending: f.set_result(2))
                assert call(pending) == 2
            semaphore = threading.Semaphore(0)
            assert semaphore.acquire(timeout=0) is False and semaphore.acquire(False) is False
            for call in (
                lambda s: s.acquire(),
                lambda s: s.acquire(True, 5),
                lambda s: s.acquire(timeout=5),
                lambda s: s.acquire(blocking=True),
            ):
                later(semaphore.release)
                assert call(semaphore) is True
        return trace

    # Waits only: starting each timer's thread may wait on a loaded machine, and says so.
    calls = [
        b for b in asyncio.run(main()).blocking_calls if b.category == "lock" and b.site is not None
    ]
    assert [b.call for b in calls] == ["concurrent.futures.Future.result"] * 3 + [
        "threading.Semaphore.acquire"
    ] * 4
    assert all(b.duration >= 0.01 and b.site[0] == __file__ for b in calls)


def test_waits_on_something_already_done_cannot_wait():
    # Decided before timing: under GIL contention even a done future's result() can take
    # milliseconds, which must not read as blocking (asyncio calls it on the loop).
    import concurrent.futures
    import threading

    from async_audit.instruments.blocking import _cannot_wait

    done, pending = concurrent.futures.Future(), concurrent.futures.Future()
    done.set_result(1)
    is_set, unset = threading.Event(), threading.Event()
    is_set.set()
    finished = threading.Thread(target=lambda: None)
    finished.start()
    finished.join()
    assert (
        _cannot_wait((done,), {}) and _cannot_wait((is_set,), {}) and _cannot_wait((finished,), {})
    )
    assert not _cannot_wait((pending,), {}) and not _cannot_wait((unset,), {})
    assert _cannot_wait((pending,), {"timeout": 0}) and not _cannot_wait((unset, 5), {})


def test_a_thread_asgiref_starts_for_a_hop_is_not_blamed_on_the_project_line_that_hopped():
    import threading as _threading

    import asgiref.sync

    from async_audit.trace.stack import blocking_site

    project = (__file__, 10, "my_middleware")
    stdlib = (_threading.__file__, 900, "start")
    by_asgiref = [stdlib, (asgiref.sync.__file__, 480, "__call__"), project]
    assert blocking_site(by_asgiref) is None
    # The same wait made by the project's own code stays the project's.
    assert blocking_site([stdlib, project]) == project
