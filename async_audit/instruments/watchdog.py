"""Event-loop lag watchdog: notices a loop that has not ticked for N ms and samples its stack.

Covers blocking the patches cannot see (C extensions, names bound before install). Each
watched loop runs a heartbeat (``call_later`` chain, in an empty context so it never keeps a
request's trace alive); one daemon thread checks every heartbeat's age. On a stall it reads
the loop thread's current frame (``sys._current_frames``), finds the task running there and
the trace in that task's context, and records a ``LoopLag`` there; the next heartbeat closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
import threading
import time
import weakref
from typing import Any

from async_audit.trace.core import active_traces_on, instrument_error, trace_of_task
from async_audit.trace.events import LoopLag
from async_audit.trace.stack import capture_stack, first_user_frame

__all__ = ["start", "stop", "watch_current_loop"]

_perf = time.perf_counter


class _Watch:
    __slots__ = ("due", "handle", "interval", "last_tick", "loop_ref", "stall", "thread")

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop_ref = weakref.ref(loop)
        self.thread = threading.get_ident()
        self.interval = interval
        self.last_tick = _perf()
        self.due = self.last_tick + interval
        self.stall: LoopLag | None = None
        self.handle: asyncio.TimerHandle | None = None

    def tick(self) -> None:
        now = _perf()
        stall = self.stall
        if stall is not None:
            stall.end = now
            self.stall = None
        self.last_tick = now
        self.due = now + self.interval
        loop = self.loop_ref()
        if loop is not None and _running:
            self.handle = loop.call_later(self.interval, self.tick, context=_EMPTY)


_EMPTY = contextvars.Context()
_lock = threading.Lock()
_watches: dict[asyncio.AbstractEventLoop, _Watch] = {}
_thread: threading.Thread | None = None
_running = False
_interval = 0.010
_threshold = 0.050


def watch_current_loop() -> None:
    """Called on the loop thread when a trace starts there; cheap once the loop is watched."""
    if not _running:
        return
    loop = asyncio._get_running_loop()
    if loop is None or loop in _watches:
        return
    try:
        watch = _Watch(loop, _interval)
        with _lock:
            if loop in _watches:
                return
            _watches[loop] = watch
        watch.handle = loop.call_later(_interval, watch.tick, context=_EMPTY)
    except Exception:
        instrument_error()


def _trace_of_running_task(loop: asyncio.AbstractEventLoop, thread: int) -> Any:
    task = asyncio.current_task(loop)
    if task is not None:
        trace = trace_of_task(task)
        if trace is not None:
            return trace
    # A plain callback, or a child task on Python < 3.12: only a lone trace is sure.
    peers = active_traces_on(thread)
    return peers[0] if len(peers) == 1 else None


def _check(watch: _Watch) -> None:
    loop = watch.loop_ref()
    if loop is None or loop.is_closed():
        with _lock:
            for key in [k for k, w in _watches.items() if w is watch]:
                del _watches[key]
        return
    now = _perf()
    if watch.stall is not None or now - watch.due < _threshold:
        return
    frame = sys._current_frames().get(watch.thread)
    trace = _trace_of_running_task(loop, watch.thread)
    if trace is None:
        return
    stack = capture_stack(frame)
    stall = LoopLag(
        start=watch.due,
        end=now,
        thread=watch.thread,
        on_loop=True,
        site=first_user_frame(stack),
        stack=stack,
    )
    watch.stall = stall
    trace.add(stall)


def _run() -> None:
    while _running:
        time.sleep(_interval / 2)
        for watch in list(_watches.values()):
            try:
                _check(watch)
            except Exception:
                instrument_error()


def start(interval_ms: float = 10.0, threshold_ms: float = 50.0) -> None:
    global _thread, _running, _interval, _threshold
    with _lock:
        if _running:
            return
        _interval = max(interval_ms, 1.0) / 1000.0
        _threshold = threshold_ms / 1000.0
        _running = True
        _thread = threading.Thread(target=_run, name="async-audit-watchdog", daemon=True)
        _thread.start()


def stop() -> None:
    global _thread, _running
    with _lock:
        _running = False
        thread, _thread = _thread, None
        watches = list(_watches.items())
        _watches.clear()
    for loop, watch in watches:
        handle = watch.handle
        if handle is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(handle.cancel)
    if thread is not None:
        thread.join(timeout=1.0)
