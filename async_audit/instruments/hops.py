"""Thread hops: every ``SyncToAsync`` and ``AsyncToSync`` call, Django's own included.

Django imports ``sync_to_async``/``async_to_sync`` by name, so the classes are patched, not
the module functions. ``SyncToAsync.__call__`` must stay ``async def``: a method decorated
with ``@sync_to_async`` is judged through it by ``inspect.iscoroutinefunction``.

Queue wait and thread time are measured in the worker thread. Inside its ``__call__``,
asgiref reads ``self.thread_handler`` on the loop thread, synchronously, before its first
await, and the worker runs what it got as ``handler(loop, exc_info, task_context, func,
child)``; ``func`` enters a copy of the caller's context and calls ``child``. Our
``__call__`` leaves its new hop, by thread, just before calling asgiref's, and
``thread_handler`` is a descriptor that takes it from there and binds it to a handler
that times asgiref's (``func(child)`` and a few attribute sets). The hop travels with its
own call (nothing else runs on that thread in between), so concurrent hops cannot be mixed
up, and no ContextVar is set per hop: a set copies the context's map, and asgiref compares
every variable of a context at each hop.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from types import FunctionType, MethodType
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


# The hop whose ``thread_handler`` asgiref is about to read, by loop thread. Empty unless
# a traced hop is between our ``__call__`` and asgiref's read of it: an untraced hop's
# lookup is one test of this dict.
_pending: dict[int, Hop] = {}
# Hops running in each worker thread now: one started while another runs is nested.
_depth: dict[int, int] = {}


# Names of bound methods by (class, function): most hops run a middleware hook, a new
# bound method each time with the same name. Bounded: classes made per request would
# otherwise grow it forever.
_method_names: dict[tuple[Any, Any], str] = {}
_METHOD_NAMES_MAX = 4096


def target_name(func: Any) -> str:
    """``module.qualname`` of what a hop runs. Never ``repr()``: a QuerySet's runs its query."""
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


def _wrap_s2a_call(original: Callable[..., Any]) -> Callable[..., Any]:
    async def __call__(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        trace = _current.get()
        if trace is None:
            return await original(self, *args, **kwargs)
        # Every traced hop passes here (15 per request on Django's default stack), so the
        # record is made inline: no helper calls, and the Hop filled in without its
        # generated ``__init__`` (every field is set, see ``_HOP_FIELDS``).
        hop: Hop | None = None
        try:
            start = _perf()
            hop = _alloc(Hop)
            hop.start = start
            hop.end = None
            hop.thread = _get_ident()
            hop.on_loop = _get_loop() is not None
            hop.direction = "sync_to_async"
            func = self.func
            # A middleware hook, most hops: its name is remembered by (class, function).
            name = None
            if (
                type(func) is MethodType
                and type(function := func.__func__) is FunctionType
                and not isinstance(owner := func.__self__, type)
            ):
                name = _method_names.get((type(owner), function))
            hop.target = target_name(func) if name is None else name
            hop.thread_sensitive = self._thread_sensitive
            hop.site = call_site(_getframe(1), 64, trace.site_memo)
            hop.run_start = hop.run_end = hop.run_thread = hop.cpu = hop.error = None
            hop.nested = False
            events = trace.events
            if trace.parent is None and len(events) < trace.max_events:
                events.append(hop)  # what Trace.add does, without the call
            else:
                trace.add(hop)
        except Exception:
            hop = None
            instrument_error(trace)
        if hop is not None:
            _pending[_get_ident()] = hop
        try:
            return await original(self, *args, **kwargs)
        except BaseException as exc:
            if _pending:  # asgiref may have raised before it read ``thread_handler``
                _pending.pop(_get_ident(), None)
            if hop is not None:
                hop.error = type(exc).__name__
            raise
        finally:
            if hop is not None:
                hop.end = _perf()

    return __call__


_alloc = object.__new__
# What the inline record above sets, checked by the tests against the dataclass.
_HOP_FIELDS = (
    "start", "end", "thread", "on_loop", "direction", "target", "thread_sensitive", "site",
    "run_start", "run_end", "run_thread", "cpu", "error", "nested",
)  # fmt: skip


class _ThreadHandler:
    """``SyncToAsync.thread_handler`` while installed: hands the slot's hop to the worker."""

    def __init__(self, original: Callable[..., Any]) -> None:
        self.original = original

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        hop = _pending.pop(_get_ident(), None) if _pending else None
        if hop is None:
            return MethodType(self.original, instance)
        return partial(_timed_handler, self.original, instance, hop)

    def __call__(self, instance: Any, *args: Any, **kwargs: Any) -> Any:
        return self.original(instance, *args, **kwargs)


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
    finally:
        hop.run_end = _perf()
        hop.cpu = _thread_time() - cpu0
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
    patches.wrap(SyncToAsync, "__call__", _wrap_s2a_call)
    patches.wrap(SyncToAsync, "thread_handler", _ThreadHandler)
    patches.wrap(AsyncToSync, "__call__", _wrap_a2s_call)
