"""Database queries, on every connection and every thread.

``connection.execute_wrapper`` only sees one thread's connection, and under ASGI queries run
in worker threads. So a permanent wrapper goes on every connection when it is created
(``connection_created``) and on those this thread already has; it attributes each query to
its request through the trace ContextVar, which asgiref and ``asyncio.to_thread`` copy into
the worker. That also catches ``thread_sensitive=False`` hops.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from async_audit.trace.core import _current, instrument_error
from async_audit.trace.events import Query

__all__ = ["install", "uninstall"]

_perf = time.perf_counter
_get_loop = asyncio._get_running_loop
_enabled = False


class _QueryRecorder:
    """The execute wrapper. One instance per connection; a no-op once uninstalled."""

    __slots__ = ("connection",)

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection

    def __call__(self, execute: Any, sql: Any, params: Any, many: bool, context: Any) -> Any:
        trace = _current.get()
        if trace is None or not _enabled:
            if not _enabled:
                _detach(self.connection)
            return execute(sql, params, many, context)
        start = _perf()
        error = None
        try:
            return execute(sql, params, many, context)
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            try:
                conn = self.connection
                trace.add(
                    Query(
                        start=start,
                        end=_perf(),
                        thread=threading.get_ident(),
                        on_loop=_get_loop() is not None,
                        alias=conn.alias,
                        vendor=conn.vendor,
                        sql=sql if isinstance(sql, str) else type(sql).__name__,
                        many=many,
                        error=error,
                    )
                )
            except Exception:
                instrument_error(trace)


def _attach(connection: BaseDatabaseWrapper) -> None:
    if not any(isinstance(w, _QueryRecorder) for w in connection.execute_wrappers):
        # Outermost position: the time includes other wrappers, as the caller sees it.
        connection.execute_wrappers.insert(0, _QueryRecorder(connection))


def _detach(connection: BaseDatabaseWrapper) -> None:
    # Safe mid-query: Django builds the wrapper chain from a copy at each execute.
    connection.execute_wrappers[:] = [
        w for w in connection.execute_wrappers if not isinstance(w, _QueryRecorder)
    ]


def _on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    try:
        _attach(connection)
    except Exception:
        instrument_error()


def install() -> None:
    global _enabled
    _enabled = True
    connection_created.connect(_on_connection_created, dispatch_uid="async_audit.db")
    # Connections made before install, on this thread (the others attach on next connect).
    for conn in connections.all(initialized_only=True):
        _attach(conn)


def uninstall() -> None:
    global _enabled
    _enabled = False
    connection_created.disconnect(dispatch_uid="async_audit.db")
    # Other threads' connections drop their recorder at their next query.
    for conn in connections.all(initialized_only=True):
        _detach(conn)
