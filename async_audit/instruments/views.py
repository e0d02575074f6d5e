"""When the view itself runs: the window that tells a view's own hops and I/O from the
middleware's.

Django calls ``make_view_atomic(callback)`` just before calling the view (after the
``process_view`` hooks), in both handlers. What it returns is wrapped, keeping the view's
sync or async nature (Django decides how to call it from that), so the wrapper records
the call wherever it runs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.handlers.base import BaseHandler

from async_audit.instruments._patch import Patches
from async_audit.instruments.hops import target_name
from async_audit.trace.core import _current, instrument_error
from async_audit.trace.events import ViewCall

__all__ = ["install"]

_perf = time.perf_counter


# Name and nature by view: the same few callbacks come back at every request (URL patterns
# hold them), and naming or inspecting a function costs more than a lookup. Bounded all
# the same (with ATOMIC_REQUESTS Django wraps the view anew at each request).
_facts: dict[Any, tuple[str, bool]] = {}
_FACTS_MAX = 4096


def _facts_of(view: Any) -> tuple[str, bool]:
    try:
        facts = _facts.get(view)
    except TypeError:  # unhashable
        return target_name(view), iscoroutinefunction(view)
    if facts is None:
        facts = (target_name(view), iscoroutinefunction(view))
        if len(_facts) < _FACTS_MAX:
            _facts[view] = facts
    return facts


def _timed(view: Any, trace: Any) -> Any:
    name, view_is_async = _facts_of(view)

    def record(start: float, is_async: bool) -> None:
        try:
            end = _perf()  # (start, end, thread, on_loop, name, is_async), positionally
            on_loop = asyncio._get_running_loop() is not None
            trace.add(ViewCall(start, end, threading.get_ident(), on_loop, name, is_async))
        except Exception:
            instrument_error(trace)

    # Only ``__wrapped__`` is copied (hops name a sync view through it): ``functools.wraps``
    # copies five attributes and a dict on every request, and Django reads none of them
    # from the callback it is about to call.
    if view_is_async:

        async def async_view(*args: Any, **kwargs: Any) -> Any:
            start = _perf()
            try:
                return await view(*args, **kwargs)
            finally:
                record(start, True)

        async_view.__wrapped__ = view  # type: ignore[attr-defined]
        return markcoroutinefunction(async_view)

    def sync_view(*args: Any, **kwargs: Any) -> Any:
        start = _perf()
        try:
            return view(*args, **kwargs)
        finally:
            record(start, False)

    sync_view.__wrapped__ = view  # type: ignore[attr-defined]
    return sync_view


def _wrap_make_view_atomic(original: Any) -> Any:
    def make_view_atomic(self: BaseHandler, view: Any) -> Any:
        callback = original(self, view)
        trace = _current.get()
        if trace is None:
            return callback
        try:
            return _timed(callback, trace)
        except Exception:
            instrument_error(trace)
            return callback

    return make_view_atomic


def install(patches: Patches) -> None:
    patches.wrap(BaseHandler, "make_view_atomic", _wrap_make_view_atomic)
