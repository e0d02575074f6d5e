"""Thread hops: every ``SyncToAsync`` and ``AsyncToSync`` call, Django's own included.

Django imports ``sync_to_async``/``async_to_sync`` by name, so the classes are patched, not
the module functions. ``SyncToAsync.__call__`` must stay ``async def``.

Queue wait and thread time are measured in the worker thread. asgiref runs
``thread_handler(loop, exc_info, task_context, func, child)`` there, and ``func`` enters a
copy of the caller's context before calling ``child``. We set ``_hop`` in the caller's
context just before asgiref copies it, and swap ``child`` for a timed version that reads
``_hop`` back inside the copy: no shared table, so concurrent hops cannot be mixed up.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from functools import partial
from types import MethodType
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync

from async_audit.instruments._patch import Patches
from async_audit.trace.core import Trace, _current, instrument_error, tracing_active
from async_audit.trace.events import Hop
from async_audit.trace.stack import call_site

__all__ = ["install", "target_name"]

_hop: ContextVar[Hop | None] = ContextVar("async_audit_hop", default=None)
_local = threading.local()
_perf = time.perf_counter
_get_loop = asyncio._get_running_loop


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
        start=_perf(),
        end=None,
        thread=threading.get_ident(),
        on_loop=_get_loop() is not None,
        direction=direction,
        target=target_name(target),
        thread_sensitive=sensitive,
        site=call_site(frame, memo=trace.site_memo),
    )


def _wrap_s2a_call(original: Callable[..., Any]) -> Callable[..., Any]:
    async def __call__(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        trace = _current.get()
        if trace is None:
            return await original(self, *args, **kwargs)
        hop: Hop | None = None
        try:
            hop = _new_hop(
                trace, "sync_to_async", self.func, self._thread_sensitive, sys._getframe(1)
            )
            trace.add(hop)
        except Exception:
            instrument_error(trace)
        # Set even when None: the worker must never time this call into an outer hop.
        token = _hop.set(hop)
        try:
            return await original(self, *args, **kwargs)
        except BaseException as exc:
            if hop is not None:
                hop.error = type(exc).__name__
            raise
        finally:
            if hop is not None:
                hop.end = _perf()
            _hop.reset(token)

    return __call__


def _wrap_thread_handler(original: Callable[..., Any]) -> Callable[..., Any]:
    def thread_handler(
        self: SyncToAsync[Any, Any],
        loop: Any,
        exc_info: Any,
        task_context: Any,
        func: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # This thread does not run in the caller's context, so the cheap global check
        # stands in for the ContextVar read here.
        if not args or not tracing_active():
            return original(self, loop, exc_info, task_context, func, *args, **kwargs)
        child = args[0]

        def timed_child() -> Any:
            hop = _hop.get()
            if hop is None:
                return child()
            depth = getattr(_local, "depth", 0)
            _local.depth = depth + 1
            start = _perf()
            cpu0 = time.thread_time()
            try:
                return child()
            finally:
                hop.run_start = start
                hop.run_end = _perf()
                hop.cpu = time.thread_time() - cpu0
                hop.run_thread = threading.get_ident()
                hop.nested = depth > 0
                _local.depth = depth

        return original(self, loop, exc_info, task_context, func, timed_child, *args[1:], **kwargs)

    return thread_handler


def _wrap_a2s_call(original: Callable[..., Any]) -> Callable[..., Any]:
    def __call__(self: AsyncToSync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        trace = _current.get()
        if trace is None:
            return original(self, *args, **kwargs)
        try:
            hop = _new_hop(trace, "async_to_sync", self.awaitable, True, sys._getframe(1))
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
    patches.wrap(SyncToAsync, "thread_handler", _wrap_thread_handler)
    patches.wrap(AsyncToSync, "__call__", _wrap_a2s_call)
