"""Django cache calls: backend, alias, operation, duration, hit or miss. Never the key.

The configured backend classes are patched (not instances: caches are per-thread/per-task
objects created on demand). ``BaseCache`` composes operations (``get_or_set`` calls ``get``
and ``add``; ``aget`` runs ``get`` in a thread), so only the outermost call is recorded,
through a ContextVar that the thread hop carries along.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.cache import CacheHandler, caches
from django.core.cache.backends.base import BaseCache
from django.utils.module_loading import import_string

from async_audit.instruments._patch import Patches
from async_audit.trace.core import _current, instrument_error
from async_audit.trace.events import CacheCall

__all__ = ["OPERATIONS", "install"]

_perf = time.perf_counter
_get_loop = asyncio._get_running_loop
_inside: ContextVar[bool] = ContextVar("async_audit_cache_inside", default=False)
_ALIAS = "_async_audit_alias"

_SYNC_OPS = (
    "get", "set", "add", "delete", "touch", "get_many", "set_many", "delete_many",
    "has_key", "incr", "decr", "clear", "get_or_set", "incr_version", "decr_version",
)  # fmt: skip
OPERATIONS = _SYNC_OPS + tuple("a" + op for op in _SYNC_OPS)
_MISS = object()


def _event(
    self: BaseCache, op: str, start: float, hit: bool | None, error: str | None
) -> CacheCall:
    return CacheCall(
        start=start,
        end=_perf(),
        thread=threading.get_ident(),
        on_loop=_get_loop() is not None,
        backend=type(self).__name__,
        alias=_alias_of(self),
        op=op,
        hit=hit,
        error=error,
    )


def _alias_of(backend: BaseCache) -> str | None:
    alias: str | None = getattr(backend, _ALIAS, None)
    if alias is None:
        # Made before install: find it among this context's caches, once.
        made = caches._connections  # type: ignore[attr-defined]  # the per-context Local
        for name in getattr(settings, "CACHES", {}):
            if getattr(made, name, None) is backend:
                alias = name
                setattr(backend, _ALIAS, alias)
                break
    return alias


def _hit(op: str, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> bool | None:
    if op not in ("get", "aget"):
        return None
    default = args[1] if len(args) > 1 else kwargs.get("default")
    return result is not default


def _record(
    trace: Any,
    backend: BaseCache,
    op: str,
    start: float,
    args: Any,
    kwargs: Any,
    result: Any,
    error: str | None,
) -> None:
    try:
        hit = None if result is _MISS else _hit(op, args, kwargs, result)
        trace.add(_event(backend, op, start, hit, error))
    except Exception:
        instrument_error(trace)


def _wrap_sync(op: str) -> Any:
    def make(original: Any) -> Any:
        def method(self: BaseCache, *args: Any, **kwargs: Any) -> Any:
            trace = _current.get()
            if trace is None or _inside.get():
                return original(self, *args, **kwargs)
            token = _inside.set(True)
            start, result, error = _perf(), _MISS, None
            try:
                result = original(self, *args, **kwargs)
                return result
            except BaseException as exc:
                error = type(exc).__name__
                raise
            finally:
                _inside.reset(token)
                _record(trace, self, op, start, args, kwargs, result, error)

        return method

    return make


def _wrap_async(op: str) -> Any:
    def make(original: Any) -> Any:
        async def method(self: BaseCache, *args: Any, **kwargs: Any) -> Any:
            trace = _current.get()
            if trace is None or _inside.get():
                return await original(self, *args, **kwargs)
            token = _inside.set(True)
            start, result, error = _perf(), _MISS, None
            try:
                result = await original(self, *args, **kwargs)
                return result
            except BaseException as exc:
                error = type(exc).__name__
                raise
            finally:
                _inside.reset(token)
                _record(trace, self, op, start, args, kwargs, result, error)

        return method

    return make


def _wrap(op: str) -> Any:
    def make(original: Any) -> Any:
        maker = _wrap_async(op) if inspect.iscoroutinefunction(original) else _wrap_sync(op)
        return maker(original)

    return make


def _wrap_create_connection(original: Any) -> Any:
    def create_connection(self: CacheHandler, alias: str) -> Any:
        backend = original(self, alias)
        try:
            setattr(backend, _ALIAS, alias)
        except Exception:
            instrument_error()
        return backend

    return create_connection


def backend_classes() -> list[type[BaseCache]]:
    classes: list[type[BaseCache]] = [BaseCache]
    for config in getattr(settings, "CACHES", {}).values():
        try:
            cls = import_string(config["BACKEND"])
        except Exception:
            continue  # Django's own cache checks report a bad backend
        if isinstance(cls, type) and issubclass(cls, BaseCache) and cls not in classes:
            classes.append(cls)
    return classes


def install(patches: Patches) -> None:
    patches.wrap(CacheHandler, "create_connection", _wrap_create_connection)
    for cls in backend_classes():
        for op in OPERATIONS:
            if hasattr(cls, op):
                patches.wrap(cls, op, _wrap(op))
