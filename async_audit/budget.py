"""Async budgets for test suites: ``with AsyncBudget(hops=15, blocking=0):`` around requests.

Like ``assertNumQueries`` for thread hops. While a budget is open, every request made through
Django's test clients (``AsyncClient``, ``Client``) or an ``ASGIHandler`` gets its own trace
(``OwnedTrace``) and the instruments are installed; when the block ends, each request is
checked against the budget and a failure lists what to change: the request, its hops with
targets and call sites, the blocking calls with the project line, the middleware that forced
sync mode.

Requests are owned where they start and end: ``AsyncClientHandler.__call__`` (what
``AsyncClient`` calls; it is not an ``ASGIHandler``, but makes the same two handler hops:
``request_started``'s sync receivers and ``sync_to_async(response.close)``),
``ClientHandler.__call__`` (WSGI: no event loop, so no hop budget can hold there) and
``ASGIHandler.__call__``. The patches are in place only while a budget is open.

No pytest here: ``async_audit.pytest_plugin`` gives the fixture and the marker, and
``AsyncBudgetMixin`` the same for ``unittest``-style suites.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from async_audit.trace.core import Trace, current_trace
from async_audit.trace.events import Frame
from async_audit.trace.owner import OwnedTrace, max_events_setting
from async_audit.trace.stack import first_user_frame, is_library_file, mark_boundary

__all__ = ["AsyncBudget", "AsyncBudgetExceeded", "AsyncBudgetMixin", "RequestRecord"]

_SOO = "SynchronousOnlyOperation"
# Listing every hop of a pathological request helps nobody: the first ones show the pattern.
MAX_LISTED = 40

# How each client reaches Django, for the failure message.
ASYNC_CLIENT = "AsyncClient"
SYNC_CLIENT = "Client"
ASGI_HANDLER = "ASGIHandler"


class AsyncBudgetExceeded(AssertionError):
    """A request made inside an async budget went over it (the message says how)."""


@dataclass
class RequestRecord:
    """One request seen while a budget was open."""

    method: str
    path: str  # without the query string: it may hold secrets
    client: str  # ASYNC_CLIENT, SYNC_CLIENT or ASGI_HANDLER
    trace: Trace

    @property
    def asgi(self) -> bool:
        return self.client != SYNC_CLIENT


@dataclass
class _Limits:
    hops: int | None
    blocking: int | None
    queries: int | None
    sync_only_errors: int | None
    exact: bool
    explicit: frozenset[str] = field(default_factory=frozenset)


def _check_limit(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"async budget: {name} must be a whole number >= 0 or None, not {value!r}")
    return value


_UNSET: Any = object()


class AsyncBudget:
    """``with AsyncBudget(hops=15, blocking=0, queries=3):`` requests inside must keep to it.

    Every limit is per request; ``None`` leaves it unchecked. ``hops`` and ``queries`` are
    maxima, or exact counts with ``exact=True`` (like ``django_assert_num_queries``).
    ``blocking`` (blocking calls on the event loop) and ``sync_only_errors``
    (``SynchronousOnlyOperation`` raised) default to 0. A block in which no request went
    through a test client fails: a budget never passes by seeing nothing.
    """

    def __init__(
        self,
        hops: int | None = None,
        *,
        blocking: int | None = _UNSET,
        queries: int | None = None,
        sync_only_errors: int | None = _UNSET,
        exact: bool = False,
    ) -> None:
        explicit = {"hops"} if hops is not None else set()
        if blocking is _UNSET:
            blocking = 0
        elif blocking is not None:
            explicit.add("blocking")
        if sync_only_errors is _UNSET:
            sync_only_errors = 0
        if not isinstance(exact, bool):
            raise ValueError(f"async budget: exact must be True or False, not {exact!r}")
        if exact and hops is None and queries is None:
            raise ValueError("async budget: exact=True needs hops= or queries= to compare with")
        self.limits = _Limits(
            hops=_check_limit("hops", hops),
            blocking=_check_limit("blocking", blocking),
            queries=_check_limit("queries", queries),
            sync_only_errors=_check_limit("sync_only_errors", sync_only_errors),
            exact=exact,
            explicit=frozenset(explicit),
        )
        self.requests: list[RequestRecord] = []
        self._installed_here = False
        self._open = False

    # -- the block -----------------------------------------------------------------------------

    def __enter__(self) -> AsyncBudget:
        from async_audit import instruments

        if self._open:
            raise RuntimeError("async budget: this budget is already open")
        self._open = True
        self.requests = []
        self._installed_here = instruments.install()
        _open_budget(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        from async_audit import instruments

        self._open = False
        _close_budget(self)
        if self._installed_here:
            instruments.uninstall()
            self._installed_here = False
        if exc is not None:
            # The test client re-raises what the view raised: a SynchronousOnlyOperation is
            # then explained with its request; anything else is the test's own failure.
            if (
                type(exc).__name__ == _SOO
                and self.limits.sync_only_errors is not None
                and self.requests  # raised by a request, not by the test's own code
            ):
                message = self.failure_message()
                if message is not None:
                    raise AsyncBudgetExceeded(message) from exc
            return
        message = self.failure_message()
        if message is not None:
            raise AsyncBudgetExceeded(message)

    # -- the verdict ---------------------------------------------------------------------------

    def failure_message(self) -> str | None:
        """Why the requests seen so far break the budget, or None when they keep to it."""
        from async_audit.budget_report import render_failure

        if not self.requests:
            return (
                "async budget: no request went through Django's test clients (AsyncClient, "
                "Client) or an ASGIHandler inside the block, so nothing was checked. Make the "
                "requests inside the `with` block (or the marked test)."
            )
        over = [(r, problems) for r in self.requests if (problems := self.problems(r))]
        if not over:
            return None
        return render_failure(self, over)

    def problems(self, record: RequestRecord) -> list[str]:
        """The budgets this request breaks, by name: hops, blocking, queries, sync_only, wsgi."""
        limits, trace = self.limits, record.trace
        out: list[str] = []
        if not record.asgi and limits.explicit & {"hops", "blocking"}:
            out.append("wsgi")
        elif record.asgi:
            if limits.hops is not None and _over(len(trace.hops), limits.hops, limits.exact):
                out.append("hops")
            if limits.blocking is not None and len(project_blocking(trace)) > limits.blocking:
                out.append("blocking")
        if limits.queries is not None and _over(len(trace.queries), limits.queries, limits.exact):
            out.append("queries")
        if limits.sync_only_errors is not None and (
            len(sync_only_errors(trace)) > limits.sync_only_errors
        ):
            out.append("sync_only")
        if trace.dropped:
            # A truncated trace may hide what would break the budget: never pass on it.
            out.append("dropped")
        return out


def _over(count: int, limit: int, exact: bool) -> bool:
    return count != limit if exact else count > limit


def project_blocking(trace: Trace) -> list[Any]:
    """Blocking calls on the loop made from code outside Django, asgiref and the standard
    library (AA301's rule): Django's own, such as asgiref starting a thread for a
    ``thread_sensitive=False`` hop, are not the project's to fix."""
    return [b for b in trace.blocking_calls if b.site and not is_library_file(b.site[0])]


def sync_only_errors(trace: Trace) -> list[Any]:
    return [e for e in trace.exceptions if e.type_name.rsplit(".", 1)[-1] == _SOO]


class AsyncBudgetMixin:
    """For ``unittest``-style suites (``django.test.TestCase`` and friends).

    ``class ShopTests(AsyncBudgetMixin, TestCase)``, then in an async test method
    ``with self.assertAsyncBudget(hops=15, blocking=0): await self.async_client.get(...)``.
    """

    def assertAsyncBudget(
        self,
        hops: int | None = None,
        *,
        blocking: int | None = _UNSET,
        queries: int | None = None,
        sync_only_errors: int | None = _UNSET,
        exact: bool = False,
    ) -> AsyncBudget:
        return AsyncBudget(
            hops,
            blocking=blocking,
            queries=queries,
            sync_only_errors=sync_only_errors,
            exact=exact,
        )


# -- owning the requests -----------------------------------------------------------------------
#
# The handlers' __call__ are patched while at least one budget is open (budgets may nest: a
# marker and a fixture in one test). One trace per request, handed to every open budget: two
# nested owners would split the events between two traces.

_lock = threading.Lock()
_budgets: list[AsyncBudget] = []
_saved: list[tuple[type, Any]] = []
_max_events: int | None = None


def _open_budget(budget: AsyncBudget) -> None:
    global _max_events
    with _lock:
        _budgets.append(budget)
        if len(_budgets) == 1:
            _max_events = max_events_setting()
            _patch()


def _close_budget(budget: AsyncBudget) -> None:
    with _lock:
        if budget in _budgets:
            _budgets.remove(budget)
        if not _budgets:
            _unpatch()


def _deliver(record: RequestRecord) -> None:
    for budget in list(_budgets):
        budget.requests.append(record)


def _start(method: str, path: str) -> OwnedTrace:
    return OwnedTrace(f"{method} {path}", _max_events)


def _finish(
    owned: OwnedTrace, client: str, method: str, path: str, status: int | None, request: Any
) -> None:
    trace = owned.finish(status)
    match = getattr(request, "resolver_match", None)
    if match is None or not owned.name_from_match(match):
        owned.name_from_path(path)
    _deliver(RequestRecord(method=method, path=path, client=client, trace=trace))


def _patch() -> None:
    from django.core.handlers.asgi import ASGIHandler
    from django.test.client import AsyncClientHandler, ClientHandler

    for cls, wrap in (
        (AsyncClientHandler, _wrap_async_client),
        (ClientHandler, _wrap_sync_client),
        (ASGIHandler, _wrap_asgi_handler),
    ):
        original = cls.__dict__["__call__"]
        _saved.append((cls, original))
        cls.__call__ = wrap(original)  # type: ignore[method-assign]


def _unpatch() -> None:
    while _saved:
        cls, original = _saved.pop()
        cls.__call__ = original  # type: ignore[method-assign]


def _wrap_async_client(original: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    async def __call__(self: Any, scope: dict[str, Any]) -> Any:
        if current_trace() is not None:  # owned already (a probe, an outer owner)
            return await original(self, scope)
        method, path = scope.get("method", "GET"), scope.get("path", "")
        owned = _start(method, path)
        response: Any = None
        try:
            response = await original(self, scope)
            return response
        finally:
            _finish(
                owned,
                ASYNC_CLIENT,
                method,
                path,
                getattr(response, "status_code", None),
                getattr(response, "asgi_request", None),
            )

    mark_boundary(__call__)  # call sites are never looked for in the test beyond it
    return __call__


def _wrap_sync_client(original: Callable[..., Any]) -> Callable[..., Any]:
    def __call__(self: Any, environ: dict[str, Any]) -> Any:
        if current_trace() is not None:
            return original(self, environ)
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        owned = _start(method, path)
        response: Any = None
        try:
            response = original(self, environ)
            return response
        finally:
            _finish(
                owned,
                SYNC_CLIENT,
                method,
                path,
                getattr(response, "status_code", None),
                getattr(response, "wsgi_request", None),
            )

    mark_boundary(__call__)  # call sites are never looked for in the test beyond it
    return __call__


def _wrap_asgi_handler(original: Callable[..., Awaitable[None]]) -> Callable[..., Any]:
    async def __call__(
        self: Any,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope.get("type") != "http" or current_trace() is not None:
            await original(self, scope, receive, send)
            return
        method, path = scope.get("method", "GET"), scope.get("path", "")
        owned = _start(method, path)
        status: int | None = None

        async def traced_send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = message.get("status")
            await send(message)

        try:
            await original(self, scope, receive, traced_send)
        finally:
            _finish(owned, ASGI_HANDLER, method, path, status, None)

    mark_boundary(__call__)  # call sites are never looked for in the test beyond it
    return __call__


# -- shared with the report ----------------------------------------------------------------------


def short_path(filename: str) -> str:
    """A file as a developer looks for it: from the working directory for the project's own
    files (``shop/views.py``), from the import root for installed ones
    (``django/utils/deprecation.py``), else as it is."""
    cwd = os.getcwd() + os.sep
    if filename.startswith(cwd) and _SITE not in filename:
        return filename[len(cwd) :]
    best = ""
    for entry in sys.path:
        root = os.path.abspath(entry or os.curdir) + os.sep
        if filename.startswith(root) and len(root) > len(best):
            best = root
    return filename[len(best) :] if best else filename


_SITE = os.sep + "site-packages" + os.sep


def where(frame: Frame | None) -> str:
    if frame is None:
        return "(inside Django: no project line)"
    return f"{short_path(frame[0])}:{frame[1]} in {frame[2]}"


def project_line(site: Frame | None, stack: list[Frame]) -> Frame | None:
    """The project's own frame for a blocking call or an exception, else its recorded site."""
    return first_user_frame(stack) or site
