"""Trace whole ASGI requests: the owner used by probes, benchmarks and end-to-end tests.

Wrapping the ASGI application (rather than sitting in MIDDLEWARE) sees everything Django's
ASGIHandler does for a request: the ``request_started`` receivers' hop before the chain and
``response.close`` (``request_finished``) after it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from async_audit.trace.core import Trace, finish_trace, instrument_error, start_trace
from async_audit.trace.stack import mark_boundary

__all__ = ["TracedASGIApp", "describe_route", "view_is_async"]

logger = logging.getLogger("async_audit")

Scope = dict[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def view_is_async(view: Any) -> bool:
    """What Django's handler checks: an async function, or a CBV with async handlers."""
    from asgiref.sync import iscoroutinefunction

    view_class = getattr(view, "view_class", None)
    if view_class is not None and hasattr(view_class, "view_is_async"):
        return bool(view_class.view_is_async)
    return iscoroutinefunction(view)


def describe_route(trace: Trace, path: str, urlconf: str | None = None) -> None:
    """Fill ``trace.route`` / ``trace.view`` from the URL resolver."""
    from django.urls import Resolver404, resolve

    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return
    trace.route = match.route
    trace.view = match._func_path
    trace.view_is_async = view_is_async(match.func)


class TracedASGIApp:
    """``TracedASGIApp(app, on_trace)``: every HTTP request traced, ``on_trace(trace)`` after.

    ``should_trace(scope)`` can pick which requests; errors in callbacks are logged and
    counted, never raised into the server.
    """

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        on_trace: Callable[[Trace], Any],
        should_trace: Callable[[Scope], bool] | None = None,
    ) -> None:
        from async_audit import conf

        self.app = app
        self.on_trace = on_trace
        self.should_trace = should_trace
        self.max_events = int(conf.get("MAX_EVENTS_PER_TRACE"))

    @mark_boundary
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or (
            self.should_trace is not None and not self.should_trace(scope)
        ):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        trace, token = start_trace(f"{scope.get('method', 'GET')} {path}", self.max_events)

        async def traced_send(message: Message) -> None:
            if message.get("type") == "http.response.start":
                trace.status = message.get("status")
            await send(message)

        try:
            await self.app(scope, receive, traced_send)
        finally:
            finish_trace(trace, token)
            try:
                describe_route(trace, path)
                self.on_trace(trace)
            except Exception:
                instrument_error(trace)
