"""Exceptions a view raised, as Django reports them (``got_request_exception``).

This is how a ``SynchronousOnlyOperation`` shows up (AA308): ``async_unsafe`` raises before
any query runs, so no other instrument sees it.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from typing import Any

from django.core.signals import got_request_exception

from async_audit.trace.core import _current, instrument_error
from async_audit.trace.events import RaisedException
from async_audit.trace.stack import first_user_frame

__all__ = ["install", "uninstall"]


def _on_exception(sender: Any, request: Any = None, **kwargs: Any) -> None:
    trace = _current.get()
    if trace is None:
        return
    try:
        exc = sys.exc_info()[1]
        if exc is None:
            return
        cls = type(exc)
        # Innermost first, like our other stacks.
        stack = [
            (f.filename, f.lineno or 0, f.name)
            for f in reversed(traceback.extract_tb(exc.__traceback__))
        ]
        now = time.perf_counter()
        trace.add(
            RaisedException(
                start=now,
                end=now,
                thread=threading.get_ident(),
                on_loop=False,
                type_name=f"{cls.__module__}.{cls.__qualname__}",
                message=str(exc)[:500],
                site=first_user_frame(stack),
                stack=stack[:40],
            )
        )
    except Exception:
        instrument_error(trace)


def install() -> None:
    got_request_exception.connect(_on_exception, dispatch_uid="async_audit.errors")


def uninstall() -> None:
    got_request_exception.disconnect(dispatch_uid="async_audit.errors")
