"""The per-request trace and the ContextVar that carries it.

Whoever owns a request (the toolbar panel, the sampling middleware, a probe, a test) calls
``start_trace`` / ``finish_trace``. Instruments call ``current_trace()`` first and do nothing
else when it is ``None``: that one ContextVar read is the whole cost of an untraced request.

asgiref's ``sync_to_async`` and ``asyncio.to_thread`` copy the context into their worker
threads, so events recorded there land in the right trace even with hundreds of requests in
flight on one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from typing import Any

from async_audit import conf
from async_audit.trace.events import (
    BlockingCall,
    CacheCall,
    Event,
    Hop,
    HttpCall,
    LoopLag,
    Query,
    RaisedException,
    ViewCall,
)

__all__ = [
    "Trace",
    "active_traces_on",
    "current_trace",
    "finish_trace",
    "instrument_error",
    "instrument_errors",
    "start_trace",
    "tag",
    "trace_of_task",
    "traced",
    "tracing_active",
]

logger = logging.getLogger("async_audit")

_floor = math.floor

_current: ContextVar[Trace | None] = ContextVar("async_audit_trace", default=None)
current_trace = _current.get

_ids = itertools.count(1)
_registry_lock = threading.Lock()
# Traces in flight, by the thread that owns them (the loop thread under ASGI). Used to know
# whether a loop's CPU time was shared between traced requests, and by the watchdog.
_active_by_thread: dict[int, set[Trace]] = {}
_active_count = 0
# The task that started each trace: lets the watchdog (another thread) find the trace of the
# task it caught blocking the loop, where Task.get_context() is missing (Python < 3.12).
_task_traces: dict[asyncio.Task[Any], Trace] = {}

_errors = 0
_error_logged = False

# Called on a loop thread when a trace starts there, each cheap once it has seen the loop
# (the instruments sit above this module, so they hook in here rather than being
# imported): the loop watchdog starts watching it, the blocking-call instrument quiets its
# self-pipe.
loop_trace_hooks: list[Callable[[], None]] = []
# Called on any other thread when a trace starts there (a sync-mode request under ASGI runs
# in asgiref's worker, its async parts on the server's loop): the watchdog watches that loop.
thread_trace_hooks: list[Callable[[], None]] = []

DEFAULT_MAX_EVENTS: int = conf.DEFAULTS["MAX_EVENTS_PER_TRACE"]
# Past the limit, the events error-level findings stand on (a blocking call, a stall, an
# exception) and the view's window are still kept, up to this many more: a chatty request
# must not lose its AA301 to its own hops and queries.
EVIDENCE_RESERVE = 256
_EVIDENCE = frozenset({BlockingCall, LoopLag, RaisedException, ViewCall})


class Trace:
    """Everything one request did. Events are appended from any thread (list.append is atomic)."""

    __slots__ = (
        "__weakref__",
        "cpu0",
        "dropped",
        "errors",
        "events",
        "id",
        "label",
        "loop",
        "max_events",
        "owner_cpu",
        "parent",
        "route",
        "shared_thread",
        "site_memo",
        "started_at",
        "status",
        "t0",
        "t1",
        "tags",
        "task",
        "thread",
        "view",
        "view_is_async",
    )

    def __init__(self, label: str = "", max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self.id = next(_ids)
        self.label = label
        self.started_at = time.time()
        self.t0 = time.perf_counter()
        self.t1: float | None = None
        self.cpu0 = time.thread_time()
        self.owner_cpu: float | None = None
        self.thread = threading.get_ident()
        self.loop = asyncio._get_running_loop()
        self.task = asyncio.current_task(self.loop) if self.loop is not None else None
        self.events: list[Event] = []
        self.tags: dict[str, Any] = {}
        self.max_events = max_events
        self.dropped = 0
        self.errors = 0
        # True when another traced request ran on the owner thread meanwhile: then the
        # owner thread's CPU time is not this request's alone.
        self.shared_thread = False
        self.route: str | None = None
        self.view: str | None = None
        self.view_is_async: bool | None = None
        self.status: int | None = None
        # Call-site walks already made in this request (see ``stack.call_site``); holds
        # frames, so it is emptied when the trace finishes.
        self.site_memo: dict[Any, Any] = {}
        # The trace already current when this one started (a probe or the sampling
        # middleware around the toolbar panel or a test budget): it keeps receiving every
        # event, so nesting owners never steal each other's evidence.
        self.parent: Trace | None = _current.get()

    def add(self, event: Event) -> None:
        n = len(self.events)
        if n < self.max_events or (
            type(event) in _EVIDENCE and n < self.max_events + EVIDENCE_RESERVE
        ):
            self.events.append(event)
        else:
            self.dropped += 1
        parent = self.parent
        if parent is not None and parent.t1 is None:
            parent.add(event)

    # -- derived figures -------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.t1 is not None

    @property
    def wall(self) -> float:
        end = self.t1 if self.t1 is not None else time.perf_counter()
        return end - self.t0

    def of_kind(self, cls: type[Event]) -> list[Any]:
        return [e for e in self.events if type(e) is cls]

    @property
    def hops(self) -> list[Hop]:
        return self.of_kind(Hop)

    @property
    def queries(self) -> list[Query]:
        return self.of_kind(Query)

    @property
    def http_calls(self) -> list[HttpCall]:
        return self.of_kind(HttpCall)

    @property
    def cache_calls(self) -> list[CacheCall]:
        return self.of_kind(CacheCall)

    @property
    def blocking_calls(self) -> list[BlockingCall]:
        return self.of_kind(BlockingCall)

    @property
    def loop_lags(self) -> list[LoopLag]:
        return self.of_kind(LoopLag)

    @property
    def exceptions(self) -> list[RaisedException]:
        return self.of_kind(RaisedException)

    @property
    def hop_cpu(self) -> float:
        """CPU time of the worker threads that ran this request's sync code."""
        return sum(h.cpu or 0.0 for h in self.hops if not h.nested and h.run_thread != self.thread)

    @property
    def cpu(self) -> float:
        """CPU time of the threads that worked for this request.

        Under ASGI the owner is the loop thread; when other traced requests shared it, its
        CPU time cannot be split between them, so only the hops' threads are counted and
        ``shared_thread`` says so.
        """
        own = 0.0 if self.owner_cpu is None or self.shared_thread else self.owner_cpu
        return own + self.hop_cpu

    def summary(self) -> dict[str, Any]:
        # One pass over the events: this runs for every exported trace (every sample).
        hops = queries = http = cache = blocking = lags = 0
        hop_overhead = hop_total = waits = wait_max = 0.0
        db = http_t = cache_t = blocking_t = 0.0
        exceptions: list[str] = []
        for e in self.events:
            if type(e) is Hop:
                hops += 1
                end = e.end
                duration = 0.0 if end is None else max(0.0, end - e.start)
                run_start = e.run_start
                run_end = e.run_end
                if run_start is None or run_end is None:
                    overhead = duration if e.direction == "sync_to_async" else 0.0
                else:
                    overhead = max(0.0, duration - (run_end - run_start))
                # What hopping itself cost: time in hops minus the time their function
                # ran. A nested hop's overhead falls inside its parent's run time, so all
                # are summed.
                hop_overhead += overhead
                if not e.nested:
                    hop_total += duration
                if run_start is not None:
                    wait = max(0.0, run_start - e.start)
                    waits += wait
                    if wait > wait_max:
                        wait_max = wait
            elif type(e) is Query:
                queries += 1
                db += e.duration
            elif type(e) is HttpCall:
                http += 1
                http_t += e.duration
            elif type(e) is CacheCall:
                cache += 1
                cache_t += e.duration
            elif type(e) is BlockingCall:
                blocking += 1
                blocking_t += e.duration
            elif type(e) is LoopLag:
                lags += 1
            elif type(e) is RaisedException:
                exceptions.append(e.type_name)
        return {
            "hops": hops,
            "hop_ms": _ms(hop_overhead),
            "hop_total_ms": _ms(hop_total),
            "hop_queue_wait_ms": _ms(waits),
            "hop_queue_wait_max_ms": _ms(wait_max),
            "queries": queries,
            "db_ms": _ms(db),
            "http_calls": http,
            "http_ms": _ms(http_t),
            "cache_calls": cache,
            "cache_ms": _ms(cache_t),
            "blocking_calls": blocking,
            "blocking_ms": _ms(blocking_t),
            "loop_lags": lags,
            "exceptions": exceptions,
            "dropped_events": self.dropped,
            "instrument_errors": self.errors,
        }

    def to_dict(self, private: bool = False) -> dict[str, Any]:
        """A JSON-safe copy, safe to store: SQL reduced to its fingerprint, no exception
        messages. ``private=True`` keeps the raw SQL text and messages (never for storage)."""
        from async_audit.trace.export import trace_to_dict

        return trace_to_dict(self, private=private)


def _ms(seconds: float) -> float:
    """``round(seconds * 1000.0, 3)``, the very same float, for a fraction of its cost.

    ``round(x, 3)`` converts ``x`` to decimal and back (thousands of instructions; an
    exported hop has seven). The answer is ``K / 1000`` (the double nearest to it, as IEEE
    division gives) where ``K`` is the integer nearest to ``x * 1000``; computed in binary,
    that product is within 2e-7 of the exact one below 1e9, so ``K`` is certain unless the
    fraction is within 1e-6 of a half: those (and huge or non-finite values) go to
    ``round``. ``x * 0.0`` keeps the sign ``round`` gives a zero.
    """
    x = seconds * 1000.0
    t = x * 1000.0
    if -1e9 < t < 1e9:
        k = _floor(t)
        frac = t - k
        if frac > 0.500001:
            k += 1
        elif frac >= 0.499999:
            return round(x, 3)
        return k / 1000.0 if k else x * 0.0
    return round(x, 3)


def tracing_active() -> bool:
    """Whether any trace is in flight in this process (a plain global read)."""
    return _active_count > 0


def trace_of_task(task: asyncio.Task[Any]) -> Trace | None:
    """The trace a task belongs to, from any thread."""
    trace = _task_traces.get(task)
    if trace is None:
        get_context = getattr(task, "get_context", None)  # Python 3.12+: child tasks too
        if get_context is not None:
            trace = get_context().get(_current)
    return trace


def active_traces_on(thread_id: int) -> list[Trace]:
    with _registry_lock:
        return list(_active_by_thread.get(thread_id, ()))


def start_trace(
    label: str = "", max_events: int | None = None
) -> tuple[Trace, Token[Trace | None]]:
    """Start a trace in the current context; pass both results to ``finish_trace``."""
    global _active_count
    if max_events is None:
        max_events = DEFAULT_MAX_EVENTS
    trace = Trace(label, max_events=max_events)
    with _registry_lock:
        peers = _active_by_thread.setdefault(trace.thread, set())
        # An enclosing trace is the same request, not a rival for the thread's CPU time.
        rivals = [other for other in peers if not _encloses(other, trace)]
        if rivals:
            trace.shared_thread = True
            for other in rivals:
                other.shared_thread = True
        peers.add(trace)
        _active_count += 1
        if trace.task is not None:
            _task_traces[trace.task] = trace
    token = _current.set(trace)
    for hook in loop_trace_hooks if trace.loop is not None else thread_trace_hooks:
        hook()
    return trace, token


def _encloses(outer: Trace, inner: Trace) -> bool:
    parent = inner.parent
    while parent is not None:
        if parent is outer:
            return True
        parent = parent.parent
    return False


def finish_trace(trace: Trace, token: Token[Trace | None] | None = None) -> Trace:
    global _active_count
    if trace.t1 is not None:
        return trace
    trace.t1 = time.perf_counter()
    trace.site_memo = {}
    if threading.get_ident() == trace.thread:
        trace.owner_cpu = time.thread_time() - trace.cpu0
    if token is not None:
        try:
            _current.reset(token)
        except ValueError:
            # Finished from another context (e.g. a response streamed by another task).
            _current.set(None)
    with _registry_lock:
        peers = _active_by_thread.get(trace.thread)
        if peers is not None:
            peers.discard(trace)
            if not peers:
                del _active_by_thread[trace.thread]
        _active_count -= 1
        if trace.task is not None and _task_traces.get(trace.task) is trace:
            parent = trace.parent
            if parent is not None and parent.t1 is None and parent.task is trace.task:
                _task_traces[trace.task] = parent
            else:
                del _task_traces[trace.task]
    return trace


def tag(key: str, value: Any) -> None:
    """Attach a label to the current trace, if any (e.g. a tenant or feature flag)."""
    trace = _current.get()
    if trace is not None:
        trace.tags[key] = value


def instrument_error(trace: Trace | None = None) -> None:
    """Count an error inside an instrument; the host's call goes on untouched."""
    global _errors, _error_logged
    _errors += 1
    if trace is not None:
        trace.errors += 1
    if not _error_logged:
        _error_logged = True
        logger.warning("async_audit: an instrument failed and was skipped", exc_info=True)


def instrument_errors() -> int:
    return _errors


@contextlib.contextmanager
def traced(label: str = "", max_events: int | None = None) -> Iterator[Trace]:
    """``with traced() as trace:`` around sync or async code."""
    trace, token = start_trace(label, max_events)
    try:
        yield trace
    finally:
        finish_trace(trace, token)
