"""Thread hops: every ``SyncToAsync`` and ``AsyncToSync`` call, Django's own included.

Django imports ``sync_to_async``/``async_to_sync`` by name, so the classes are patched, not
the module functions. ``SyncToAsync.__call__`` itself is left alone: a coroutine of ours
around every hop cost more than the rest of the record (each of its suspensions passed
through it), and a method decorated with ``@sync_to_async`` is judged through it by
``inspect.iscoroutinefunction``.

Two points inside asgiref's ``__call__`` are used instead, on the loop thread, in the
caller's context. It reads ``self.thread_handler`` synchronously, before its first await:
``thread_handler`` is a descriptor that records the hop there and binds it to a handler
that times asgiref's in the worker (queue wait, run time and thread CPU; the worker runs
what it got as ``handler(loop, exc_info, task_context, func, child)``). And it calls
``self.deadlock_context.set(False)`` in its ``finally``, as the call returns: that ends the
hop, found by the frame of the ``__call__`` that made it. The hop travels with its own call,
so concurrent hops cannot be mixed up, and no ContextVar is set per hop: a set copies the
context's map, and asgiref compares every variable of a context at each hop. A call asgiref
refuses before it reads ``thread_handler`` (a deadlock, an exited context) is no hop.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from types import CodeType, FunctionType, MethodType
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync

from async_audit.instruments._patch import Patches
from async_audit.trace.core import Trace, _current, instrument_error
from async_audit.trace.events import Hop
from async_audit.trace.stack import call_site

__all__ = ["install", "target_name"]

_perf = time.perf_counter
_thread_time = time.thread_time
_get_ident = threading.get_ident
_get_loop = asyncio._get_running_loop
_getframe = sys._getframe
_exc_info = sys.exc_info


# Hops running in each worker thread now: one started while another runs is nested.
_depth: dict[int, int] = {}


# Names of bound methods by (class, function): most hops run a middleware hook, a new
# bound method each time with the same name. Bounded: classes made per request would
# otherwise grow it forever.
_method_names: dict[tuple[Any, Any], str] = {}
_METHOD_NAMES_MAX = 4096


# Names of plain functions by the id of their code object, which a function's closures
# share and which holds nothing of a request (kept in the entry, so the id is never reused).
# A code object's own hash covers its constants and its equality ignores its file and
# qualified name: as a key it would cost microseconds and name ``index`` of one app by
# another's. The module and qualified name are checked, since either can differ between
# functions of one code. Only functions with an empty ``__dict__``: a wrapper's name is what
# it wraps (``__wrapped__``), not its own code's.
_function_names: dict[int, tuple[CodeType, str, str, str]] = {}


def target_name(func: Any) -> str:
    """``module.qualname`` of what a hop runs. Never ``repr()``: a QuerySet's runs its query."""
    if type(func) is FunctionType and not func.__dict__:
        code = func.__code__
        entry = _function_names.get(id(code))
        if (
            entry is not None
            and entry[0] is code
            and entry[1] == func.__qualname__
            and entry[2] == func.__module__
        ):
            return entry[3]
        named = _target_name(func)
        if len(_function_names) < _METHOD_NAMES_MAX and isinstance(func.__module__, str):
            _function_names[id(code)] = (code, func.__qualname__, func.__module__, named)
        return named
    if type(func) is MethodType:
        owner = func.__self__
        key = (owner if isinstance(owner, type) else type(owner), func.__func__)
        try:
            name = _method_names.get(key)
        except TypeError:  # an unhashable callable bound as a method
            return _target_name(func)
        if name is None:
            name = _target_name(func)
            if len(_method_names) < _METHOD_NAMES_MAX:
                _method_names[key] = name
        return name
    return _target_name(func)


def _target_name(func: Any) -> str:
    for _ in range(8):
        if isinstance(func, partial):
            func = func.func
        elif isinstance(func, (SyncToAsync, AsyncToSync)):
            func = getattr(func, "func", None) or getattr(func, "awaitable", None)
        elif "__wrapped__" in getattr(func, "__dict__", ()):
            # functools.wraps: name what is wrapped (Django's handler wrappers hide the
            # middleware instance there).
            func = func.__dict__["__wrapped__"]
        else:
            break
    owner = getattr(func, "__self__", None)
    name = getattr(func, "__qualname__", None)
    if owner is not None and not isinstance(owner, type) and name is not None:
        cls = type(owner)
        # A bound method: name it by the instance's class (a subclass may not override it).
        return f"{cls.__module__}.{cls.__qualname__}.{getattr(func, '__name__', name)}"
    if name is None or not isinstance(name, str):
        cls = type(func)
        return f"{cls.__module__}.{cls.__qualname__}"
    return f"{getattr(func, '__module__', None) or '?'}.{name}"


def _new_hop(trace: Trace, direction: str, target: Any, sensitive: bool, frame: Any) -> Hop:
    return Hop(
        _perf(),
        None,
        _get_ident(),
        _get_loop() is not None,
        direction,
        target_name(target),
        sensitive,
        call_site(frame, 64, trace.site_memo),
    )


_alloc = object.__new__
# What the inline record in ``_ThreadHandler.__get__`` sets, checked by the tests against
# the dataclass.
_HOP_FIELDS = (
    "start", "end", "thread", "on_loop", "direction", "target", "thread_sensitive", "site",
    "run_start", "run_end", "run_thread", "cpu", "error", "nested",
)  # fmt: skip

# Traced hops under way, by the frame of asgiref's ``__call__`` that makes each one, with
# the exception being handled when it began (see ``_DeadlockContext.set``). An entry
# outlives its call only if asgiref raised between reading ``thread_handler`` and its
# ``try`` (the executor refusing the job): bounded for that.
_open: dict[Any, tuple[Hop, BaseException | None]] = {}
_OPEN_MAX = 4096


class _ThreadHandler:
    """``SyncToAsync.thread_handler`` while installed: where a traced hop is recorded.

    asgiref's ``__call__`` reads it on the loop thread, in the caller's context, after
    choosing the executor and before handing the job over: the hop starts here, and the
    worker runs the handler returned, which times the job. An untraced hop pays one
    ContextVar read.
    """

    def __init__(self, original: Callable[..., Any]) -> None:
        self.original = original

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        trace = _current.get()
        if trace is None:
            return MethodType(self.original, instance)
        # Every traced hop passes here (15 per request on Django's default stack), so the
        # record is made inline: the Hop filled in without its generated ``__init__`` (every
        # field is set, see ``_HOP_FIELDS``).
        try:
            hop = _alloc(Hop)
            hop.start = _perf()
            hop.end = None
            hop.thread = _get_ident()
            hop.on_loop = True  # asgiref's __call__ runs on its loop
            hop.direction = "sync_to_async"
            func = instance.func
            # A middleware hook, most hops: its name is remembered by (class, function); a
            # plain function's (a view) by its code, in ``target_name``.
            name = None
            if (
                type(func) is MethodType
                and type(function := func.__func__) is FunctionType
                and not isinstance(owner := func.__self__, type)
            ):
                name = _method_names.get((type(owner), function))
            hop.target = target_name(func) if name is None else name
            hop.thread_sensitive = instance._thread_sensitive
            caller = _getframe(1)  # asgiref's __call__
            hop.site = call_site(caller.f_back, 64, trace.site_memo)
            hop.run_start = hop.run_end = hop.run_thread = hop.cpu = hop.error = None
            hop.nested = False
            if len(_open) >= _OPEN_MAX:
                _open.clear()
            _open[caller] = (hop, _exc_info()[1])
            events = trace.events
            if trace.parent is None and len(events) < trace.max_events:
                events.append(hop)  # what Trace.add does, without the call
            else:
                trace.add(hop)
        except Exception:
            instrument_error(trace)
            return MethodType(self.original, instance)
        return partial(_timed_handler, self.original, instance, hop)

    def __call__(self, instance: Any, *args: Any, **kwargs: Any) -> Any:
        return self.original(instance, *args, **kwargs)


class _DeadlockContext:
    """``SyncToAsync.deadlock_context`` while installed: asgiref's ContextVar, unchanged,
    except that its ``set(False)`` ends a traced hop.

    Every supported asgiref calls it in the ``finally`` of ``__call__``, on the loop as
    the call returns to its caller: the hop's end, with no coroutine of ours around every
    hop. An exception raised there that was not already being handled when the hop began
    (a cancellation; the worker's own errors are named in the worker) is the hop's error.
    """

    def __init__(self, var: Any) -> None:
        self.var = var
        self.get = var.get
        self._set = var.set

    def set(self, value: Any) -> Any:
        if _open and value is False:
            entry = _open.pop(_getframe(1), None)
            if entry is not None:
                hop = entry[0]
                hop.end = _perf()
                if hop.error is None:
                    exc = _exc_info()[1]
                    if exc is not None and exc is not entry[1]:
                        hop.error = type(exc).__name__
        return self._set(value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.var, name)


# A run shorter than this is all CPU: a thread that sleeps in the kernel and is woken takes
# longer to come back, and a preempted one is gone for a time slice. Its CPU is its run
# time, which spares the second thread-CPU reading (a system call, 1 to 1.5 µs after a
# thread switch); most hops are middleware hooks of a few microseconds.
_ALL_CPU_RUN = 20e-6


def _timed_handler(
    original: Callable[..., Any],
    instance: SyncToAsync[Any, Any],
    hop: Hop,
    *args: Any,
    **kwargs: Any,
) -> Any:
    # In the worker, around asgiref's handler (which enters the caller's context and calls
    # the function): its own few attribute sets are a microsecond of the hop's run time,
    # and timing here spares a frame and a partial per hop.
    thread = _get_ident()
    depth = _depth.get(thread, 0)
    _depth[thread] = depth + 1
    start = _perf()
    cpu0 = _thread_time()
    try:
        return original(instance, *args, **kwargs)
    except BaseException as exc:
        hop.error = type(exc).__name__
        raise
    finally:
        hop.run_end = end = _perf()
        hop.cpu = end - start if end - start < _ALL_CPU_RUN else _thread_time() - cpu0
        hop.run_start = start
        hop.run_thread = thread
        hop.nested = depth > 0
        if depth:
            _depth[thread] = depth
        else:
            del _depth[thread]


def _wrap_a2s_call(original: Callable[..., Any]) -> Callable[..., Any]:
    def __call__(self: AsyncToSync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        trace = _current.get()
        if trace is None:
            return original(self, *args, **kwargs)
        try:
            hop = _new_hop(trace, "async_to_sync", self.awaitable, True, _getframe(1))
            trace.add(hop)
        except Exception:
            instrument_error(trace)
            return original(self, *args, **kwargs)
        try:
            return original(self, *args, **kwargs)
        except BaseException as exc:
            hop.error = type(exc).__name__
            raise
        finally:
            hop.end = _perf()

    return __call__


def install(patches: Patches) -> None:
    patches.wrap(SyncToAsync, "thread_handler", _ThreadHandler)
    patches.wrap(SyncToAsync, "deadlock_context", _DeadlockContext)
    patches.wrap(AsyncToSync, "__call__", _wrap_a2s_call)
