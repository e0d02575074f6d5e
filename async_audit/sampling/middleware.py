"""The sampling middleware: trace a share of real requests and queue them for storage.

Dual-mode like django-htmx's ``HtmxMiddleware``: under ASGI ``__acall__`` runs on the loop
and awaits the next member directly (no hop, and no other member's mode changes); under
WSGI it runs sync. Put it first in ``MIDDLEWARE`` so its trace covers the whole chain.

An unsampled request pays the decision (one random draw) and nothing else. A sampled one is
traced through ``OwnedTrace``, named from ``request.resolver_match`` (the route pattern,
never the raw path) and handed to the writer; nothing here can break the host's request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from async_audit.sampling.decide import Decider
from async_audit.sampling.lifespan import answer_lifespan
from async_audit.sampling.writer import Writer, writer_from_settings
from async_audit.trace.core import current_trace, instrument_error
from async_audit.trace.owner import OwnedTrace, max_events_setting

__all__ = ["SamplingMiddleware", "not_traffic"]

# Set while this process runs requests that are not traffic (the command's probes and their
# warm-ups): they would be stored as samples and counted as arrivals.
_not_traffic = False


@contextlib.contextmanager
def not_traffic() -> Iterator[None]:
    """No request in this process is sampled inside the block."""
    global _not_traffic
    before, _not_traffic = _not_traffic, True
    try:
        yield
    finally:
        _not_traffic = before


class SamplingMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        self.decider = Decider.from_settings()
        self.writer: Writer = writer_from_settings()
        answer_lifespan()  # the server's shutdown is when the last samples are written
        self.max_events = max_events_setting()
        # Installed here, where traces are owned: a project that only lists the app pays
        # nothing. At rate 0 with no sampler only forced requests are traced, so the
        # instruments wait for the first of them: until then every request pays only the draw.
        self._installed = False
        if self.decider.rate > 0 or self.decider.sampler is not None:
            self._install()

    def _install(self) -> None:
        from async_audit import instruments

        instruments.install()
        self._installed = True

    def __call__(self, request: Any) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        decision = self.decider.decide(request)
        if decision is None or current_trace() is not None or _not_traffic:
            return self.get_response(request)
        if not self._installed:
            self._install()
        owned = OwnedTrace(request.method, self.max_events)
        status = 500  # unless a response comes back (Django converts most exceptions itself)
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            self._finish(owned, request, status, decision)

    async def __acall__(self, request: Any) -> Any:
        decision = self.decider.decide(request)
        get_response: Callable[[Any], Awaitable[Any]] = self.get_response
        # A request someone else already traces (a probe, a test budget) is not traffic.
        if decision is None or current_trace() is not None or _not_traffic:
            return await get_response(request)
        if not self._installed:
            self._install()
        owned = OwnedTrace(request.method, self.max_events)
        status = 500
        try:
            response = await get_response(request)
            status = response.status_code
            return response
        finally:
            self._finish(owned, request, status, decision)

    def _finish(
        self, owned: OwnedTrace, request: Any, status: int, decision: tuple[float, bool]
    ) -> None:
        trace = owned.trace
        try:
            owned.finish(status)
            owned.name_from_match(getattr(request, "resolver_match", None))
            self.writer.submit(trace, request.method or "GET", *decision)
        except Exception:
            instrument_error(trace)
