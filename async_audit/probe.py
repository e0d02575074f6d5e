"""Probes: GET requests through the project's real ASGI application, in-process, traced.

As a server would run them: lifespan first (uvicorn's "auto" mode: an app that rejects
lifespan, as Django's own handler does, is simply run without it), then each path once
untraced (first-call imports and lazy set-up are not the view's steady state), then once
traced. Django's handler sends ``request_started``/``request_finished`` itself. Outbound
connections to anything but loopback are refused unless allowed, so a probe never reaches
the network by accident; a view that raises is reported with its exception's type and
site (never its message: messages may hold user data).

A probe sends a ``Host`` the project accepts (``probe_host``) and, with ``probe_user``, the
session cookie of that user. django-debug-toolbar, when installed, is kept hidden: its
panels' work (file scans, stack captures, rendering) is not the view's. A response the view
did not make (a redirect to the login page, a 404 from the resolver, a 500) is reported as
not measured, with the reason, and never judged as the view's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import socket
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from async_audit.asgi_client import asgi_request
from async_audit.findings import display_path
from async_audit.inventory.chain import TOOLBAR_MIDDLEWARE
from async_audit.sampling.middleware import not_traffic
from async_audit.trace import Trace
from async_audit.trace.asgi import TracedASGIApp
from async_audit.verdicts.measured import not_measured_reason, view_ran

__all__ = [
    "ProbeError",
    "ProbeResult",
    "load_asgi_app",
    "no_network",
    "probe_host",
    "run_probes",
]

TOOLBAR_NOTE = (
    "probes ran with django-debug-toolbar hidden: its panels' work is not the view's "
    "(its middleware still runs, with the hop of its sync SHOW_TOOLBAR_CALLBACK)"
)


class ProbeError(Exception):
    """The probes could not run at all (the ASGI application does not load or start)."""


@dataclass
class ProbeResult:
    path: str
    status: int | None
    trace: dict[str, Any] | None
    error: str | None  # the exception's type and site: no message
    not_measured: str | None = None  # why this response says nothing about the view
    redirect: str | None = None  # where a 3xx answer pointed (path only)
    followed: str | None = None  # the path probed instead, with --follow
    login_redirect: bool = False

    @property
    def measured(self) -> bool:
        return self.trace is not None and self.not_measured is None


def probe_host() -> str:
    """A ``Host`` the project accepts: the first usable ``ALLOWED_HOSTS`` entry ('*' or a
    wildcard '.example.com' give a concrete name), or what Django allows in DEBUG."""
    from django.conf import settings

    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # Django's own DEBUG default
    for entry in allowed:
        name = "localhost" if entry == "*" else str(entry).lstrip(".")
        if name:
            return name
    return "localhost"  # nothing is allowed: the 400 is reported, never judged


def load_asgi_app() -> Any:
    """``settings.ASGI_APPLICATION``, or Django's own ASGI handler when it is not set."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    dotted = getattr(settings, "ASGI_APPLICATION", None)
    if not dotted:
        from django.core.asgi import get_asgi_application

        return get_asgi_application()
    try:
        return import_string(dotted)
    except Exception as exc:
        raise ProbeError(
            f"ASGI_APPLICATION {dotted!r} could not be loaded: {type(exc).__name__}: {exc}"
        ) from exc


# -- no network ----------------------------------------------------------------------------

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _refuse(host: Any) -> OSError:
    return ConnectionRefusedError(
        f"async_audit probe: connection to {host} refused (probes stay on this machine; "
        f"pass --allow-network to let views reach it)"
    )


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Refuse connections, datagrams and name look-ups beyond loopback (Unix sockets pass).

    Every refusal is the same ``ConnectionRefusedError``, raised before anything leaves the
    machine: a name is refused before it is resolved (a DNS query is traffic too), so
    ``socket.create_connection``, urllib, requests and httpx all fail the same way.
    """
    names = ("connect", "connect_ex", "sendto", "sendmsg")
    saved = {name: socket.socket.__dict__.get(name) for name in names}
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto
    original_sendmsg = socket.socket.sendmsg
    resolvers = {
        name: getattr(socket, name) for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex")
    }

    def _check(sock: socket.socket, address: Any) -> None:
        if (
            sock.family in (socket.AF_INET, socket.AF_INET6)
            and isinstance(address, tuple)
            and not _is_loopback(address[0])
        ):
            raise _refuse(address[0])

    def connect(self: socket.socket, address: Any) -> None:
        _check(self, address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(self, address)
        return original_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        # sendto(data, address) or sendto(data, flags, address)
        if args:
            _check(self, args[-1])
        return original_sendto(self, data, *args)

    def sendmsg(self: socket.socket, buffers: Any, *args: Any) -> int:
        # sendmsg(buffers, ancdata, flags, address): the address is the fourth argument
        if len(args) >= 3 and args[2] is not None:
            _check(self, args[2])
        return original_sendmsg(self, buffers, *args)

    def _resolver(name: str) -> Callable[..., Any]:
        original = resolvers[name]

        def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host is not None and host != "" and not _is_loopback(host):
                raise _refuse(host)
            return original(host, *args, **kwargs)

        return resolve

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.socket.sendto = sendto  # type: ignore[method-assign,assignment]
    socket.socket.sendmsg = sendmsg  # type: ignore[method-assign,assignment]
    for name in resolvers:
        setattr(socket, name, _resolver(name))
    try:
        yield
    finally:
        for name, original in resolvers.items():
            setattr(socket, name, original)
        for name, value in saved.items():
            if value is None:
                delattr(socket.socket, name)
            else:
                setattr(socket.socket, name, value)


# -- lifespan ------------------------------------------------------------------------------


class _Lifespan:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[Any] | None = None
        self.supported = False

    async def _receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def _send(self, message: dict[str, Any]) -> None:
        await self.outbox.put(message)

    async def _wait(self) -> dict[str, Any] | None:
        assert self.task is not None
        getter = asyncio.ensure_future(self.outbox.get())
        await asyncio.wait({getter, self.task}, return_when=asyncio.FIRST_COMPLETED, timeout=30)
        if getter.done():
            return getter.result()
        getter.cancel()
        return None

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.3"}, "state": {}}
        self.task = asyncio.ensure_future(self.app(scope, self._receive, self._send))
        await self.inbox.put({"type": "lifespan.startup"})
        message = await self._wait()
        if message is None:
            # The app ended without answering (Django's handler raises on lifespan): unsupported.
            if self.task.done() and not self.task.cancelled():
                self.task.exception()  # retrieved, so asyncio does not log it
            return
        if message["type"] == "lifespan.startup.failed":
            raise ProbeError(f"the ASGI application failed to start: {message.get('message', '')}")
        self.supported = message["type"] == "lifespan.startup.complete"

    async def shutdown(self) -> None:
        if not self.supported or self.task is None:
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self._wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 5)


# -- probes --------------------------------------------------------------------------------


@dataclass
class _Options:
    host: str
    headers: list[tuple[bytes, bytes]]
    follow: bool
    login_pages: set[tuple[str, str]]


# The exception Django turned into the current probe's response, innermost first (Http404,
# PermissionDenied, DisallowedHost... are not sent to ``got_request_exception``).
_answered: list[str] = []


@contextlib.contextmanager
def _watch_exception_responses() -> Iterator[None]:
    from django.core.handlers import exception as handler_exceptions

    original = handler_exceptions.response_for_exception

    def response_for_exception(request: Any, exc: Exception) -> Any:
        cls = type(exc)
        _answered.append(f"{cls.__module__}.{cls.__qualname__}")
        return original(request, exc)

    handler_exceptions.response_for_exception = response_for_exception
    try:
        yield
    finally:
        handler_exceptions.response_for_exception = original
        _answered.clear()


def _where(site: Any) -> str:
    if not site:
        return ""
    return f" at {display_path(site[0])}:{site[1]} ({site[2]})"


def _location(headers: list[tuple[bytes, bytes]], host: str) -> tuple[str | None, str, bool]:
    """The redirect's target (path and query), its host (``""`` within the site), and
    whether it is within the site."""
    for name, value in headers:
        if name.lower() == b"location":
            parts = urlsplit(value.decode("latin-1"))
            inside = (not parts.netloc or parts.netloc == host) and parts.scheme in ("", "http")
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            return target, "" if inside else parts.netloc, inside
    return None, "", False


async def _probe_once(app: Any, path: str, opts: _Options, follow: bool) -> ProbeResult:
    traces: list[Trace] = []
    traced = TracedASGIApp(app, traces.append)
    try:
        await asgi_request(app, path, headers=opts.headers, host=opts.host)  # warm-up, untraced
        _answered.clear()
        response = await asgi_request(traced, path, headers=opts.headers, host=opts.host)
    except Exception as exc:
        # The application itself raised, not a view (Django turns those into 500s).
        trace = traces[0].to_dict() if traces else None
        name = type(exc).__qualname__
        return ProbeResult(
            path, None, trace, name, not_measured_reason(None, ran=False, exception=name)
        )
    trace_obj = traces[0]
    trace = trace_obj.to_dict()
    error = None
    raised = _answered[0] if _answered else None
    if trace_obj.exceptions:
        exc_event = trace_obj.exceptions[-1]
        raised = exc_event.type_name
        error = exc_event.type_name + _where(exc_event.site)
    location, netloc, inside = _location(response.headers, opts.host)
    redirect = location.split("?", 1)[0] if location and 300 <= response.status < 400 else None
    login = redirect is not None and (netloc, redirect) in opts.login_pages
    reason = not_measured_reason(
        response.status,
        ran=view_ran(trace),
        exception=raised,
        location=redirect if inside else f"{netloc}{redirect}",
        login=login,
    )
    result = ProbeResult(path, response.status, trace, error, reason, redirect, None, login)
    if follow and reason is not None and location is not None and not login and inside:
        followed = await _probe_once(app, location, opts, follow=False)  # once, never a chain
        followed.path, followed.redirect, followed.followed = path, redirect, redirect
        return followed
    return result


def _login_pages() -> set[tuple[str, str]]:
    """Where a login redirect points, as (host, path), host ``""`` within the site:
    ``settings.LOGIN_URL`` (an SSO on another host too), and the admin's login page."""
    from django.conf import settings
    from django.shortcuts import resolve_url
    from django.urls import reverse

    pages = set()
    with contextlib.suppress(Exception):
        parts = urlsplit(str(resolve_url(settings.LOGIN_URL)))
        pages.add((parts.netloc, parts.path or "/"))
        pages.add(("", parts.path or "/"))  # an absolute URL naming this site
    with contextlib.suppress(Exception):  # no admin (NoReverseMatch), or a broken URLconf
        pages.add(("", reverse("admin:login")))
    return pages


def run_probes(
    paths: list[str],
    *,
    allow_network: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    user: str | None = None,
    follow: bool = False,
    notes: list[str] | None = None,
) -> list[ProbeResult]:
    """Probe each path in order, on one event loop, with every instrument installed.

    ``user``: probe as this user (a session in the project's session engine, sent as the
    session cookie, deleted after the run); ``follow``: follow a redirect the view did not
    make (``APPEND_SLASH``, a locale prefix) once, within the site. ``notes`` gets a line
    for what the report must say about how the probes ran.
    """
    from async_audit import instruments
    from async_audit.probe_session import user_session

    app = load_asgi_app()

    async def main(opts: _Options) -> list[ProbeResult]:
        lifespan = _Lifespan(app)
        await lifespan.startup()
        results = []
        try:
            for i, path in enumerate(paths):
                if progress is not None:
                    progress(i, len(paths), path)
                results.append(await _probe_once(app, path, opts, opts.follow))
        finally:
            await lifespan.shutdown()
        return results

    with user_session(user) as cookie:
        opts = _Options(probe_host(), [cookie] if cookie else [], follow, _login_pages())
        installed_here = instruments.install()
        try:
            with (
                contextlib.nullcontext() if allow_network else no_network(),
                _quiet(),
                _watch_exception_responses(),
                not_traffic(),
                _toolbar_hidden() as hidden,
            ):
                results = asyncio.run(main(opts))
                if hidden and notes is not None:
                    notes.append(TOOLBAR_NOTE)
                return results
        finally:
            if installed_here:
                instruments.uninstall()


@contextlib.contextmanager
def _toolbar_hidden() -> Iterator[bool]:
    """Answer django-debug-toolbar's "show the toolbar?" with no, for the probes' requests.

    With DEBUG on and 127.0.0.1 in ``INTERNAL_IPS`` (a developer's settings) the toolbar
    would run every panel around the view: its file scans on the event loop read as the
    view's blocking calls (AA301 errors), its stack captures as the view's CPU. The answer
    keeps the configured callback's nature, sync or async, so the hops are the chain's as
    the chain audit counts them. Patched where the toolbar's middleware looks it up per
    request (``show_toolbar_func_or_path``, in releases 6.0 to 8.0 at least).
    """
    from django.conf import settings

    dt: Any = None
    if TOOLBAR_MIDDLEWARE in settings.MIDDLEWARE:
        try:
            from debug_toolbar import middleware as dt

            original = dt.show_toolbar_func_or_path
            configured = original()
        except Exception:  # not installed, another release, a broken callback path
            dt = None
    if dt is None:
        yield False
        return
    from asgiref.sync import iscoroutinefunction

    async def hidden_async(request: Any) -> bool:
        return False

    def hidden_sync(request: Any) -> bool:
        return False

    hidden = hidden_async if iscoroutinefunction(configured) else hidden_sync
    dt.show_toolbar_func_or_path = lambda: hidden
    try:
        yield True
    finally:
        dt.show_toolbar_func_or_path = original


def _is_django_log(record: logging.LogRecord) -> bool:
    # All of Django's loggers, at every level: a project logging "django" at DEBUG would
    # print template tracebacks (exception messages, user data) and every query with its
    # parameters (django.db.backends) for each probe.
    return record.name == "django" or record.name.startswith("django.")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Each probe's report line says what happened: Django's logging (tracebacks of views
    that raised, DisallowedHost, "Not Found", and at DEBUG template errors and queries with
    their parameters) and the "coroutine was never awaited" warning of a hidden async view
    would only repeat it on the user's terminal, user data included.

    A filter on every handler, not ``logger.disabled``: records propagate to the handlers
    of parent loggers whatever the parents' own settings, and Django creates the
    ``django.security.<Error>`` loggers at the moment it logs.
    """
    manager = logging.Logger.manager
    loggers = [
        logging.getLogger(),
        *(x for x in manager.loggerDict.values() if isinstance(x, logging.Logger)),
    ]
    handlers = {id(h): h for lg in loggers for h in lg.handlers}
    if logging.lastResort is not None:
        handlers[id(logging.lastResort)] = logging.lastResort
    drop = logging.Filter()
    drop.filter = lambda record: not _is_django_log(record)  # type: ignore[method-assign]
    for h in handlers.values():
        h.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
            gc.collect()  # unawaited coroutines are reported when collected: do it here
    finally:
        for h in handlers.values():
            h.removeFilter(drop)
