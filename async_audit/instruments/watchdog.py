"""Event-loop lag watchdog: notices a loop that has not ticked for N ms and samples its stack.

Covers blocking the patches cannot see (C extensions, names bound before install). One
daemon thread keeps a heartbeat on each watched loop while traces are in flight (and, with
none in flight, waits for one without waking at all): every
interval it hands the loop a tick (``call_soon_threadsafe``, in an empty context so it never
keeps a request's trace alive), one at a time, and checks how long the tick has waited. A
tick that finds no trace in flight disarms the loop, and the next trace started there arms
it again, so a loop serving untraced requests (sampling at 1%) or none at all gets nothing
from us. The tick is handed over rather than scheduled with ``call_later``: a timer in the
loop's heap makes every iteration of the loop read the clock and work out a timeout (in a
loop with no timer of its own, a fifteenth of what tracing a request on Django's default
stack costs). On a stall the thread reads the loop thread's current frame
(``sys._current_frames``), finds the task running there and the trace in that task's
context, and records a ``LoopLag`` there; the tick, when it runs, closes it.

A late heartbeat is not always a stall. A stall is the loop thread *running something*
(CPU work, or a call blocked in the kernel) for too long. Three look-alikes are ruled out:
- a loop idle in its selector (its innermost frame is the selector's wait or the loop's own
  machinery): nothing of the project runs, the timer merely fired late;
- a loop thread that was runnable but not scheduled (other processes had the CPUs): on
  Linux, the thread's run-queue wait (``/proc/self/task/<tid>/schedstat``) is taken off the
  lag, and a thread still runnable ('R' in its ``stat``) whose CPU clock
  (``pthread_getcpuclockid``) has not advanced by the threshold since the heartbeat is
  judged later: what counts is the thread's own time, which machine load does not change;
- a loop thread waiting to take the GIL back from another thread's Python (a CPU-bound
  sync view in its worker, on a loaded machine): its CPU has not covered the lag and its
  innermost frame stands at an instruction that calls nothing (``_between_calls``), so it
  is not inside a blocking call: judged later.
The CPU clock also gives how much of a stall was CPU work. Elsewhere only the selector rule
applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dis
import os
import sys
import threading
import time
import weakref
from typing import Any

from async_audit.trace import core
from async_audit.trace.core import active_traces_on, instrument_error, trace_of_task
from async_audit.trace.events import LoopLag
from async_audit.trace.stack import capture_stack, first_user_frame, is_library_file

__all__ = ["start", "stop", "watch_current_loop", "watch_main_loop"]

_perf = time.perf_counter


def _open_proc(name: str) -> int | None:
    """A descriptor on one of this thread's /proc files, if the platform has them."""
    try:
        return os.open(f"/proc/self/task/{threading.get_native_id()}/{name}", os.O_RDONLY)
    except (OSError, AttributeError):
        return None


def _runnable(fd: int | None) -> bool | None:
    """Whether the thread is running or waiting for a CPU ('R'), not blocked in a call."""
    if fd is None:
        return None
    try:
        # "pid (comm) state ...": the name may hold spaces and parentheses.
        return os.pread(fd, 512, 0).rsplit(b")", 1)[1].split()[0] == b"R"
    except (OSError, IndexError):
        return None


def _queued(fd: int | None) -> float | None:
    """Seconds the thread has spent runnable but waiting for a CPU, since it started."""
    if fd is None:
        return None
    try:
        return int(os.pread(fd, 128, 0).split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _cpu_clock() -> int | None:
    try:
        return time.pthread_getcpuclockid(threading.get_ident())
    except (AttributeError, OSError):
        return None


def _cpu(clock: int | None) -> float | None:
    if clock is None:
        return None
    try:
        return time.clock_gettime(clock)
    except OSError:  # the thread is gone
        return None


class _Watch:
    __slots__ = ("armed", "clock", "due", "handle", "interval", "last_tick", "loop_ref",
                 "posted", "sched_fd", "stall", "stat_fd", "thread", "tick_cpu",
                 "tick_queued")  # fmt: skip
    # Set by ``arm``, before anything reads them.
    last_tick: float
    due: float  # when the next tick is to be handed over; once handed over, when it was
    tick_cpu: float
    tick_queued: float | None

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        # Made on the loop thread: the clocks read here are the loop thread's.
        self.loop_ref = weakref.ref(loop)
        self.thread = threading.get_ident()
        self.interval = interval
        self.stall: LoopLag | None = None
        self.handle: asyncio.Handle | None = None
        self.armed = False
        self.posted = False  # a tick handed to the loop has not run yet
        self.clock = _cpu_clock()
        self.sched_fd = _open_proc("schedstat")  # run ns, run-queue wait ns, slices
        self.stat_fd = _open_proc("stat")

    def tick(self) -> None:
        """On the loop thread, when the loop gets to the tick it was handed."""
        now = _perf()
        # On the loop thread: thread_time() is the clock the watchdog reads from outside.
        cpu, queued = time.thread_time(), _queued(self.sched_fd)
        stall = self.stall
        if stall is not None:
            stall.end = now
            stall.cpu = cpu - self.tick_cpu
            if queued is not None and self.tick_queued is not None:
                stall.queued = max(0.0, queued - self.tick_queued)
            self.stall = None
        self.last_tick = now
        self.tick_cpu, self.tick_queued = cpu, queued
        self.handle = None
        self.due = now + self.interval  # before ``posted``: never a stale due seen as waiting
        self.posted = False
        # No trace in flight (on any thread: a sync-mode request's trace lives in a worker,
        # its async parts run here): nothing a stall could be charged to. ``arm`` starts
        # the heartbeat again when a trace starts.
        if not (_running and core.tracing_active()):
            self.armed = False

    def arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop thread: start the heartbeat again, from now."""
        self.tick_cpu, self.tick_queued = time.thread_time(), _queued(self.sched_fd)
        self.last_tick = now = _perf()
        self.due = now + self.interval  # before ``armed``: the checker never sees a stale due
        self.posted = False
        self.armed = True
        _wake.set()  # after ``armed``: the watchdog thread may be waiting for it

    def beat(self, now: float) -> None:
        """On the watchdog thread: hand the loop its next tick, when it is due."""
        if not self.armed or self.posted or now < self.due:
            return
        loop = self.loop_ref()
        if loop is None:
            return
        self.posted = True
        self.due = now  # a tick the loop leaves waiting from now is its lag
        try:
            self.handle = loop.call_soon_threadsafe(self.tick, context=_EMPTY)
        except RuntimeError:  # the loop closed meanwhile: ``_check`` lets it go
            self.posted = False

    def close(self) -> None:
        fds, self.sched_fd, self.stat_fd = (self.sched_fd, self.stat_fd), None, None
        for fd in fds:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)


# The loop's own machinery and the interpreter's start-up: never the site of a stall.
_LOOP_MACHINERY = {
    "selectors.py": None,  # every function: the selector's wait
    "base_events.py": {"_run_once", "run_forever", "run_until_complete"},
    "runners.py": {"run"},
    "windows_events.py": {"select", "_poll"},
    "threading.py": {"run", "_bootstrap", "_bootstrap_inner"},
    "runpy.py": None,
}


def _is_machinery(frame: tuple[str, int, str]) -> bool:
    filename, _, func = frame
    if filename.startswith("<frozen "):  # runpy, importlib: the interpreter starting up
        return True
    if not is_library_file(filename):
        return False
    funcs = _LOOP_MACHINERY.get(os.path.basename(filename), ())
    return funcs is None or func in funcs


def _stall_site(stack: list[tuple[str, int, str]]) -> tuple[str, int, str] | None:
    """The project's frame, else the innermost library frame; never the start-up frames."""
    frames = [f for f in stack if not _is_machinery(f)]
    return first_user_frame(frames) or (frames[0] if frames else None)


_EMPTY = contextvars.Context()
_lock = threading.Lock()
_wake = threading.Event()  # set when a loop is armed, or the watchdog stops
_watches: dict[asyncio.AbstractEventLoop, _Watch] = {}
_thread: threading.Thread | None = None
_running = False
_interval = 0.010
_threshold = 0.050


def watch_current_loop() -> None:
    """Called on the loop thread when a trace starts there: arms the loop's heartbeat if it is
    not armed (cheap when it is)."""
    if not _running:
        return
    loop = asyncio._get_running_loop()
    if loop is None:
        return
    watch = _watches.get(loop)
    if watch is not None and watch.armed:
        return
    try:
        if watch is None:
            watch = _Watch(loop, _interval)
            with _lock:
                if loop in _watches:
                    return
                _watches[loop] = watch
        watch.arm(loop)
    except Exception:
        instrument_error()


def watch_main_loop() -> None:
    """Called on a thread without a loop when a trace starts there (a sync-mode request under
    ASGI, in asgiref's worker):
    have the server's loop watched too, where the request's async views and
    ``async_to_sync`` calls run. On Python 3.12+ a stall there is attributed through the
    task's context (3.10/3.11 cannot read it). Nothing under WSGI: there is no such loop.
    """
    from asgiref.sync import SyncToAsync

    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if _running and loop is not None and not loop.is_closed():
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(watch_current_loop)


def _trace_of_running_task(loop: asyncio.AbstractEventLoop, thread: int) -> Any:
    task = asyncio.current_task(loop)
    if task is not None:
        trace = trace_of_task(task)
        if trace is not None:
            return trace
    # A plain callback, or a child task on Python < 3.12: only a lone trace is sure.
    peers = active_traces_on(thread)
    return peers[0] if len(peers) == 1 else None


# Instructions that call nothing: a frame standing at one is not inside a blocking call.
# The interpreter hands the GIL over at these (the top of a function, a loop's jump back),
# so a loop thread waiting there to take it back is starved by another thread's Python
# (a CPU-bound sync view in its worker, on a loaded machine), not stalled by its own code.
_NO_CALL_OPS = frozenset(op for name, op in dis.opmap.items() if name == "RESUME" or "JUMP" in name)


def _between_calls(frame: Any) -> bool:
    try:
        code = frame.f_code.co_code
        i = frame.f_lasti
        return 0 <= i < len(code) and code[i] in _NO_CALL_OPS
    except (AttributeError, TypeError):
        return False


def _check(watch: _Watch) -> None:
    loop = watch.loop_ref()
    if loop is None or loop.is_closed():
        with _lock:
            for key in [k for k, w in _watches.items() if w is watch]:
                del _watches[key]
        watch.close()
        return
    now = _perf()
    # Only a tick handed over and left waiting is lag: a due time passed with none handed
    # over is this thread late (the machine's load), not the loop.
    if (
        not watch.armed
        or not watch.posted
        or watch.stall is not None
        or now - watch.due < _threshold
    ):
        return
    frame = sys._current_frames().get(watch.thread)
    if frame is None:
        return
    stack = capture_stack(frame)
    if not stack or _is_machinery(stack[0]):
        return  # idle in the selector (or between callbacks): the heartbeat is merely late
    site = _stall_site(stack)
    if site is None:
        return
    queued = _queued(watch.sched_fd)
    # Time the thread spent waiting for a CPU is the machine's load, not the loop's work.
    # The kernel adds a wait to the total only once the thread runs again, so a thread
    # still waiting shows as runnable whose CPU time has not covered the lag: judged later.
    waited = None if queued is None or watch.tick_queued is None else queued - watch.tick_queued
    if waited is not None and now - watch.due - waited < _threshold:
        return
    cpu = _cpu(watch.clock)
    # The loop thread's own CPU has not covered the lag: it was not computing. If it waits
    # for a CPU ('R'), or stands at an instruction that cannot be inside a call (the points
    # where a thread gives up the GIL and waits to take it back), other threads had the GIL
    # or the machine had the CPUs: judged later. What is left is a call that blocks.
    if (
        cpu is not None
        and cpu - watch.tick_cpu < _threshold
        and (_runnable(watch.stat_fd) is True or _between_calls(frame))
    ):
        return
    trace = _trace_of_running_task(loop, watch.thread)
    if trace is None:
        return
    stall = LoopLag(
        start=watch.due,
        end=now,
        thread=watch.thread,
        on_loop=True,
        site=site,
        stack=stack,
        cpu=None if cpu is None else max(0.0, cpu - watch.tick_cpu),
        queued=None if waited is None else max(0.0, waited),
    )
    watch.stall = stall
    trace.add(stall)


def _armed() -> bool:
    return any(watch.armed for watch in list(_watches.values()))


def _run() -> None:
    while _running:
        if not _armed():
            # No trace in flight on a watched loop: sleep until one is armed, rather than
            # waking every few milliseconds for the life of an untraced process. ``arm``
            # sets the event after ``armed``, and it is cleared before the second look, so
            # an arming in between is never missed.
            _sweep()
            _wake.clear()
            if _running and not _armed():
                _wake.wait()
            continue
        time.sleep(_interval / 2)
        for watch in list(_watches.values()):
            try:
                _check(watch)
                watch.beat(_perf())
            except Exception:
                instrument_error()


def _sweep() -> None:
    """Let the watches of closed loops go (``_check`` does it for each), before sleeping."""
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
        if watch_current_loop not in core.loop_trace_hooks:
            core.loop_trace_hooks.append(watch_current_loop)
        if watch_main_loop not in core.thread_trace_hooks:
            core.thread_trace_hooks.append(watch_main_loop)


def stop() -> None:
    global _thread, _running
    with _lock:
        _running = False
        _wake.set()
        with contextlib.suppress(ValueError):
            core.loop_trace_hooks.remove(watch_current_loop)
        with contextlib.suppress(ValueError):
            core.thread_trace_hooks.remove(watch_main_loop)
        thread, _thread = _thread, None
        watches = list(_watches.items())
        _watches.clear()
    for loop, watch in watches:
        handle = watch.handle
        if loop.is_closed():
            watch.close()
            continue
        with contextlib.suppress(RuntimeError):
            if handle is not None:
                loop.call_soon_threadsafe(handle.cancel)
            # Closed on the loop thread, which reads it at each tick: never a reused number.
            loop.call_soon_threadsafe(watch.close)
    if thread is not None:
        thread.join(timeout=1.0)
