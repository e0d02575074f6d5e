from __future__ import annotations

import asyncio
import os
import selectors
import subprocess
import sys
import threading
import time
from time import sleep as sleep_bound_before_install  # invisible to the patches

import pytest

from async_audit.instruments import watchdog
from async_audit.trace import traced

pytestmark = pytest.mark.usefixtures("installed")


def test_a_stall_the_patches_cannot_see_is_caught_by_the_watchdog_with_its_stack():
    async def stall() -> None:
        await asyncio.sleep(0.03)  # let the heartbeat start
        sleep_bound_before_install(0.2)

    async def main():
        with traced() as trace:
            await stall()
            await asyncio.sleep(0.03)  # let the next heartbeat close the stall
        return trace

    trace = asyncio.run(main())
    assert trace.blocking_calls == []
    (lag,) = trace.loop_lags
    assert lag.duration >= 0.1
    assert lag.site is not None and lag.site[0] == __file__ and lag.site[2] == "stall"


def test_a_stall_is_attributed_to_the_request_that_caused_it():
    async def request(n: int, stall: bool):
        with traced() as trace:
            await asyncio.sleep(0.03)
            if stall:
                sleep_bound_before_install(0.15)
            await asyncio.sleep(0.05)
        return n, trace

    async def main():
        return await asyncio.gather(*(request(n, n == 3) for n in range(6)))

    for n, trace in asyncio.run(main()):
        assert len(trace.loop_lags) == (1 if n == 3 else 0), n


def test_a_busy_loop_whose_tick_the_watchdog_was_late_to_hand_over_is_not_a_stall(monkeypatch):
    # The watchdog thread itself late (a loaded machine): the tick's due time passes with
    # no tick handed over, while the loop keeps running short steps. Nothing waited.
    monkeypatch.setattr(watchdog._Watch, "beat", lambda self, now: None)  # never handed over

    async def main():
        with traced() as trace:
            await asyncio.sleep(0.03)
            (watch,) = [w for w in watchdog._watches.values() if w.thread == threading.get_ident()]
            watch.due -= 1.0  # a second overdue, and nothing was handed over
            deadline = time.perf_counter() + 0.3
            # Busy in steps of 20 ms, under the 50 ms threshold: longer than the GIL's
            # switch interval, so the watchdog samples the loop inside a step.
            while time.perf_counter() < deadline:
                end = time.thread_time() + 0.02
                while time.thread_time() < end:
                    pass
                await asyncio.sleep(0)
        return trace

    assert asyncio.run(main()).loop_lags == []


def test_an_idle_loop_whose_heartbeat_is_late_is_not_a_stall():
    # A loaded machine wakes an idle loop late: its thread sits in the selector's wait.
    async def main():
        with traced() as trace:
            await asyncio.sleep(0.03)  # the heartbeat starts
            (watch,) = [w for w in watchdog._watches.values() if w.thread == threading.get_ident()]
            watch.due -= 1.0  # the heartbeat is a second late, while the loop waits for work
            await asyncio.sleep(0.1)  # idle: the watchdog samples the loop in its selector
        return trace

    assert asyncio.run(main()).loop_lags == []


def _starved_loop(hog_cpu: int) -> tuple[object, float]:
    """Run a traced loop of short CPU steps on a thread that loses its CPU to a hog."""
    out = {}

    async def main():
        with traced() as trace:
            await asyncio.sleep(0.03)
            longest, last, deadline = 0.0, time.perf_counter(), time.perf_counter() + 4.0
            for _ in range(80):  # 80 steps of 1 ms of CPU each, a short yield between them
                if time.perf_counter() > deadline:
                    break
                end = time.thread_time() + 0.001
                while time.thread_time() < end:
                    pass
                await asyncio.sleep(0)
                now = time.perf_counter()
                longest, last = max(longest, now - last), now
        out["trace"], out["longest"] = trace, longest

    def loop_thread():
        # Share the hog's CPU at the lowest priority: the kernel keeps this thread waiting.
        os.sched_setaffinity(threading.get_native_id(), {hog_cpu})
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        asyncio.run(main())

    thread = threading.Thread(target=loop_thread)
    thread.start()
    thread.join(timeout=30)
    return out["trace"], out["longest"]


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="schedstat and affinity are Linux's"
)
def test_a_loop_thread_starved_of_cpu_by_other_processes_is_not_a_stall():
    cpu = min(os.sched_getaffinity(0))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(hog.pid, {cpu})
        time.sleep(0.05)
        trace, longest = _starved_loop(cpu)
    finally:
        hog.kill()
        hog.wait()
    # Starved well past the 50 ms threshold (the kernel's slices for a nice-19 thread beside
    # a hog come about every 100 ms), so the watchdog did look at it while it waited.
    assert longest >= 0.075, "the loop was never starved: the test proves nothing"
    assert trace.loop_lags == []


def test_a_stalls_site_is_never_the_interpreters_start_up_frames():
    stack = [
        (selectors.__file__, 468, "select"),
        (asyncio.base_events.__file__, 1898, "_run_once"),
        ("<frozen runpy>", 88, "_run_code"),
    ]
    assert watchdog._stall_site(stack) is None
    user = ("/srv/project/shop/views.py", 12, "checkout")
    assert watchdog._stall_site([*stack[:2], user, stack[2]]) == user


def _our_timers(loop: asyncio.AbstractEventLoop) -> list[asyncio.TimerHandle]:
    scheduled: list[asyncio.TimerHandle] = loop._scheduled  # type: ignore[attr-defined]
    return [h for h in scheduled if not h.cancelled() and "tick" in repr(h._callback)]


def test_the_heartbeat_runs_only_while_traces_are_in_flight_and_never_as_a_timer():
    # Sampling at 1%: most requests are untraced, and an idle server serves none: a live
    # heartbeat would wake the loop 100 times a second for nothing to charge a stall to.
    # And a timer in the loop's heap makes each iteration of the loop compute a timeout.
    async def main() -> tuple[object, list[float], list[float], list[object]]:
        loop = asyncio.get_running_loop()
        timers: list[object] = []
        with traced():
            (watch,) = [w for w in watchdog._watches.values() if w.loop_ref() is loop]
            ticks = [watch.last_tick]
            for _ in range(10):
                await asyncio.sleep(0.01)
                ticks.append(watch.last_tick)
                timers += _our_timers(loop)
        await asyncio.sleep(0.05)  # a tick finds no trace in flight and disarms the loop
        assert not watch.armed
        idle = [watch.last_tick]
        for _ in range(5):
            await asyncio.sleep(0.01)
            idle.append(watch.last_tick)
        sleep_bound_before_install(0.2)  # untraced: not a stall of any trace, and unseen
        with traced() as trace:  # the next trace arms it again, from now
            await asyncio.sleep(0.03)
            sleep_bound_before_install(0.2)
            await asyncio.sleep(0.03)
        return trace, ticks, idle, timers

    trace, ticks, idle, timers = asyncio.run(main())
    assert timers == []
    assert len(set(ticks)) >= 3, ticks  # about one tick per 10 ms while traced
    assert len(set(idle)) == 1, idle  # none while nothing is traced
    (lag,) = trace.loop_lags  # caught after the pause, and only the traced stall
    assert 0.1 <= lag.duration < 0.35


def test_a_trace_started_in_a_worker_thread_has_the_servers_loop_watched():
    # A sync-mode request under ASGI (the sampling middleware or the panel dragged into sync
    # mode): its trace starts in asgiref's worker, its async parts run on the server's loop.
    from asgiref.sync import sync_to_async

    def armed(loop: asyncio.AbstractEventLoop) -> bool:
        return any(w.armed for w in list(watchdog._watches.values()) if w.loop_ref() is loop)

    def in_worker(loop: asyncio.AbstractEventLoop) -> tuple[bool, bool, object]:
        before = armed(loop)
        with traced() as trace:  # starting it is enough: no face has to ask
            deadline = time.perf_counter() + 5.0
            while not armed(loop) and time.perf_counter() < deadline:
                time.sleep(0.005)  # the loop is free: it runs the call it was handed
            return before, armed(loop), trace.loop

    async def main() -> tuple[bool, bool, object]:
        return await sync_to_async(in_worker)(asyncio.get_running_loop())

    before, after, trace_loop = asyncio.run(main())
    assert trace_loop is None  # started off the loop: no loop hook ran
    assert before is False and after is True


def test_a_thread_waiting_for_the_gil_is_told_from_one_blocked_in_a_call():
    # Seen in CI (Python 3.12, two loaded cores): a CPU-bound sync view's worker kept the
    # GIL while the loop thread waited at the top of a weakref callback, which read as a
    # 57 ms stall of the loop. A thread that gave up the GIL stands at an instruction that
    # calls nothing; one blocked in a call stands at the call.
    spinning = [True]

    def spin() -> None:
        while spinning[0]:
            pass

    def sleep() -> None:
        sleep_bound_before_install(0.3)

    threads = [threading.Thread(target=spin), threading.Thread(target=sleep)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.05)
        frames = sys._current_frames()
        spin_frame, sleep_frame = (frames[t.ident] for t in threads)  # type: ignore[index]
        assert spin_frame.f_code.co_name == "spin" and sleep_frame.f_code.co_name == "sleep"
        assert watchdog._between_calls(spin_frame)
        assert not watchdog._between_calls(sleep_frame)
    finally:
        spinning[0] = False
        for t in threads:
            t.join()


def _wakeups(thread: threading.Thread) -> int:
    """How many times the thread has been switched in (both kinds of context switch)."""
    with open(f"/proc/self/task/{thread.native_id}/status") as f:
        return sum(
            int(line.split()[1]) for line in f if line.startswith(("voluntary", "nonvoluntary"))
        )


def _settled_wakeups(thread: threading.Thread, seconds: float) -> int:
    """Wake-ups over ``seconds``, once no loop is armed (a loaded machine may be slow to let
    the thread see that) and the thread has had time to reach its wait."""
    deadline = time.monotonic() + 5.0
    while watchdog._armed() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    start = _wakeups(thread)
    time.sleep(seconds)
    return _wakeups(thread) - start


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc (Linux)")
def test_the_watchdog_thread_sleeps_while_no_trace_is_in_flight():
    thread = watchdog._thread
    assert thread is not None and thread.is_alive()
    # Woken every 5 ms this would be about 40; blocked, it is not switched in at all.
    assert _settled_wakeups(thread, 0.2) <= 1

    async def traced_stall() -> float:
        with traced() as trace:
            await asyncio.sleep(0.03)
            sleep_bound_before_install(0.15)
            await asyncio.sleep(0.03)
        return sum(lag.duration for lag in trace.loop_lags)

    # A trace wakes it, its heartbeat runs, and once the loop is gone it sleeps again.
    assert asyncio.run(traced_stall()) >= 0.1
    assert _settled_wakeups(thread, 0.2) <= 1
