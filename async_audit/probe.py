"""Probes: GET requests through the project's real ASGI application, in-process, traced.

As a server would run them: lifespan first (uvicorn's "auto" mode: an app that rejects
lifespan, as Django's own handler does, is simply run without it), then each path once
untraced (first-call imports and lazy set-up are not the view's steady state), then once
traced. Django's handler sends ``request_started``/``request_finished`` itself. Outbound
connections to anything but loopback are refused unless allowed, so a probe never reaches
the network by accident; a view that raises is reported with its exception.
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

from async_audit.asgi_client import asgi_request
from async_audit.trace import Trace
from async_audit.trace.asgi import TracedASGIApp

__all__ = ["ProbeError", "ProbeResult", "load_asgi_app", "no_network", "run_probes"]


class ProbeError(Exception):
    """The probes could not run at all (the ASGI application does not load or start)."""


@dataclass
class ProbeResult:
    path: str
    status: int | None
    trace: dict[str, Any] | None
    error: str | None


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
    """Refuse connections and name look-ups beyond loopback (Unix sockets pass)."""
    saved = {name: socket.socket.__dict__.get(name) for name in ("connect", "connect_ex")}
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def _check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise _refuse(address[0])

    def connect(self: socket.socket, address: Any) -> None:
        _check(self, address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(self, address)
        return original_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, str(_refuse(host)))
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = original_getaddrinfo
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


async def _probe(app: Any, path: str) -> ProbeResult:
    traces: list[Trace] = []
    traced = TracedASGIApp(app, traces.append)
    try:
        await asgi_request(app, path)  # warm-up, untraced
        response = await asgi_request(traced, path)
    except Exception as exc:
        # The application itself raised, not a view (Django turns those into 500s).
        trace = traces[0].to_dict() if traces else None
        return ProbeResult(path, None, trace, f"{type(exc).__name__}: {exc}")
    trace_obj = traces[0]
    error = None
    if trace_obj.exceptions:
        exc_event = trace_obj.exceptions[-1]
        error = (
            f"{exc_event.type_name}: {exc_event.message}"
            if exc_event.message
            else exc_event.type_name
        )
    return ProbeResult(path, response.status, trace_obj.to_dict(), error)


def run_probes(
    paths: list[str],
    *,
    allow_network: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[ProbeResult]:
    """Probe each path in order, on one event loop, with every instrument installed."""
    from async_audit import instruments

    app = load_asgi_app()

    async def main() -> list[ProbeResult]:
        lifespan = _Lifespan(app)
        await lifespan.startup()
        results = []
        try:
            for i, path in enumerate(paths):
                if progress is not None:
                    progress(i, len(paths), path)
                results.append(await _probe(app, path))
        finally:
            await lifespan.shutdown()
        return results

    installed_here = instruments.install()
    try:
        with contextlib.nullcontext() if allow_network else no_network(), _quiet():
            return asyncio.run(main())
    finally:
        if installed_here:
            instruments.uninstall()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Views that raise are reported in the probes: Django's traceback logging and the
    "coroutine was never awaited" warning of a hidden async view would only repeat that."""
    request_logger = logging.getLogger("django.request")
    disabled = request_logger.disabled
    request_logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
            gc.collect()  # unawaited coroutines are reported when collected: do it here
    finally:
        request_logger.disabled = disabled
