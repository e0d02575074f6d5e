"""Trace whole ASGI requests: the owner used by probes, benchmarks and end-to-end tests.

Wrapping the ASGI application (rather than sitting in MIDDLEWARE) sees everything Django's
ASGIHandler does for a request: the ``request_started`` receivers' hop before the chain and
``response.close`` (``request_finished``) after it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from async_audit.trace.core import Trace, instrument_error
from async_audit.trace.owner import OwnedTrace, max_events_setting, view_is_async
from async_audit.trace.stack import mark_boundary

__all__ = ["TracedASGIApp", "view_is_async"]

logger = logging.getLogger("async_audit")

Scope = dict[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


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
        self.app = app
        self.on_trace = on_trace
        self.should_trace = should_trace
        self.max_events = max_events_setting()

    def _wanted(self, scope: Scope) -> bool:
        if self.should_trace is None:
            return True
        try:
            return bool(self.should_trace(scope))
        except Exception:
            instrument_error()  # counted and logged once; the request runs untraced
            return False

    @mark_boundary
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or not self._wanted(scope):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        owned = OwnedTrace(f"{scope.get('method', 'GET')} {path}", self.max_events)
        status: int | None = None

        async def traced_send(message: Message) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = message.get("status")
            await send(message)

        try:
            await self.app(scope, receive, traced_send)
        finally:
            trace = owned.finish(status)
            try:
                owned.name_from_path(path)
                self.on_trace(trace)
            except Exception:
                instrument_error(trace)
