"""The demo's own middleware: three that cost thread hops under ASGI, and one that does not.

Each is the kind of thing real projects carry. Under ASGI Django adapts every member to the
mode of the member below it (``BaseHandler.load_middleware``), so where a middleware sits in
``settings.MIDDLEWARE`` matters as much as how it is written.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

__all__ = [
    "RequestIdMiddleware",
    "RequestTimingMiddleware",
    "ServerTimingMiddleware",
    "ViewNameMiddleware",
]

GetResponse = Callable[[HttpRequest], HttpResponseBase]
AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


class RequestTimingMiddleware:
    """Adds ``X-Request-Time-Ms``. AA101: sync-only.

    Written the way most tutorials show: a plain class with ``__call__`` and no capability
    flags, so Django takes the defaults ``sync_capable = True, async_capable = False``.
    Under ASGI Django wraps everything below it in ``async_to_sync`` and runs it, and every
    sync-capable member above it, in a worker thread: the whole outer chain loses its async
    mode because of this one class. ``ServerTimingMiddleware`` below does the same job in
    both modes.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-Time-Ms"] = f"{(time.perf_counter() - started) * 1000:.1f}"
        return response


class RequestIdMiddleware(MiddlewareMixin):
    """Gives each request an id (``request.request_id``), echoed as ``X-Request-ID``. AA102.

    ``MiddlewareMixin`` says ``async_capable = True``, so this runs in async mode under
    ASGI, but its ``__acall__`` calls each sync hook through ``sync_to_async``: one thread
    hop for ``process_request`` and one for ``process_response`` on every request, for two
    lines of work. Its flags hide the cost; only counting hops shows it.
    """

    def process_request(self, request: HttpRequest) -> None:
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming[:64] or uuid.uuid4().hex  # type: ignore[attr-defined]

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        request_id = getattr(request, "request_id", None)
        if request_id:
            response["X-Request-ID"] = request_id
        return response


class ViewNameMiddleware(MiddlewareMixin):
    """Records the resolved view's name on the request for logging. AA103: sync process_view.

    It has no ``process_request``/``process_response``, so ``MiddlewareMixin`` adds no hop
    around the call, but Django calls view hooks from its async request path and adapts a
    sync ``process_view`` with ``sync_to_async``: one hop per request. An ``async def
    process_view`` (with the class made async-only or dual-mode) would not hop.
    """

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> None:
        module = getattr(view_func, "__module__", "?")
        name = getattr(view_func, "__qualname__", getattr(view_func, "__name__", "?"))
        request.view_name = f"{module}.{name}"  # type: ignore[attr-defined]


class ServerTimingMiddleware:
    """Adds a ``Server-Timing: app;dur=<ms>`` header. The good example: dual-mode, no hop.

    Written like django-htmx's ``HtmxMiddleware``: it declares both capabilities, learns
    its mode from ``get_response``, marks itself as a coroutine function in async mode (so
    the member above sees an async handler and does not adapt it) and then serves
    ``__acall__``. Same job as ``RequestTimingMiddleware``, none of its cost.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse | AsyncGetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        started = time.perf_counter()
        response = cast(GetResponse, self.get_response)(request)
        return self._stamp(response, started)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = await cast(AsyncGetResponse, self.get_response)(request)
        return self._stamp(response, started)

    @staticmethod
    def _stamp(response: HttpResponseBase, started: float) -> HttpResponseBase:
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response
