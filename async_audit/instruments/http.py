"""Outbound HTTP: ``http.client`` (so urllib, urllib3 and requests), httpx and aiohttp.

Recorded: client, method, host, port, path without its query string, status, and the time
from the first byte sent (or the connect) to the response headers. Never the query string,
headers or bodies.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from async_audit.instruments._patch import Patches
from async_audit.trace.core import _current, instrument_error
from async_audit.trace.events import HttpCall

__all__ = ["install"]

_perf = time.perf_counter
_get_loop = asyncio._get_running_loop
# Per-connection state between connect/putrequest and getresponse. The attribute lives on
# the HTTPConnection object, which one thread uses at a time.
_PENDING = "_async_audit_pending"


def _path_only(url: str) -> str:
    if "://" in url:  # absolute form, as sent to proxies
        url = urlsplit(url).path or "/"
    return url.split("?", 1)[0].split("#", 1)[0]


def _begin(conn: http.client.HTTPConnection, trace: Any) -> HttpCall:
    call: HttpCall | None = getattr(conn, _PENDING, None)
    if call is None or call.end is not None:
        call = HttpCall(
            start=_perf(),
            end=None,
            thread=threading.get_ident(),
            on_loop=_get_loop() is not None,
            client="http.client",
            host=str(getattr(conn, "host", "")),
            port=getattr(conn, "port", None),
        )
        setattr(conn, _PENDING, call)
    return call


def _wrap_connect(original: Any) -> Any:
    def connect(self: http.client.HTTPConnection, *args: Any, **kwargs: Any) -> Any:
        trace = _current.get()
        if trace is not None:
            try:
                _begin(self, trace)
            except Exception:
                instrument_error(trace)
        return original(self, *args, **kwargs)

    return connect


def _wrap_putrequest(original: Any) -> Any:
    def putrequest(
        self: http.client.HTTPConnection, method: str, url: str, *args: Any, **kwargs: Any
    ) -> Any:
        trace = _current.get()
        if trace is not None:
            try:
                call = _begin(self, trace)
                call.method = str(method)
                call.path = _path_only(str(url))
            except Exception:
                instrument_error(trace)
        return original(self, method, url, *args, **kwargs)

    return putrequest


def _wrap_getresponse(original: Any) -> Any:
    def getresponse(self: http.client.HTTPConnection, *args: Any, **kwargs: Any) -> Any:
        call: HttpCall | None = getattr(self, _PENDING, None)
        if call is None or call.end is not None:
            return original(self, *args, **kwargs)
        trace = _current.get()
        try:
            response = original(self, *args, **kwargs)
        except BaseException as exc:
            call.error = type(exc).__name__
            raise
        else:
            call.status = getattr(response, "status", None)
            return response
        finally:
            call.end = _perf()
            setattr(self, _PENDING, None)
            if trace is not None and call.method:
                trace.add(call)

    return getresponse


def _record(
    trace: Any, client: str, method: str, url: Any, start: float, status: Any, error: Any
) -> None:
    try:
        trace.add(
            HttpCall(
                start=start,
                end=_perf(),
                thread=threading.get_ident(),
                on_loop=_get_loop() is not None,
                client=client,
                method=str(method),
                host=str(url.host or ""),
                port=url.port,
                path=str(url.path or "/"),
                status=status if isinstance(status, int) else None,
                error=error,
            )
        )
    except Exception:
        instrument_error(trace)


def _wrap_httpx_send(original: Any) -> Any:
    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        trace = _current.get()
        if trace is None:
            return original(self, request, *args, **kwargs)
        start, status, error = _perf(), None, None
        try:
            response = original(self, request, *args, **kwargs)
            status = response.status_code
            return response
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            _record(trace, "httpx", request.method, request.url, start, status, error)

    return send


def _wrap_httpx_asend(original: Any) -> Any:
    async def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        trace = _current.get()
        if trace is None:
            return await original(self, request, *args, **kwargs)
        start, status, error = _perf(), None, None
        try:
            response = await original(self, request, *args, **kwargs)
            status = response.status_code
            return response
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            _record(trace, "httpx", request.method, request.url, start, status, error)

    return send


def _wrap_aiohttp_request(original: Any) -> Any:
    async def _request(self: Any, method: str, str_or_url: Any, *args: Any, **kwargs: Any) -> Any:
        trace = _current.get()
        if trace is None:
            return await original(self, method, str_or_url, *args, **kwargs)
        start, status, error = _perf(), None, None
        try:
            response = await original(self, method, str_or_url, *args, **kwargs)
            status = response.status
            return response
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            try:
                from yarl import URL

                url = URL(str(str_or_url))
            except Exception:
                instrument_error(trace)
            else:
                _record(trace, "aiohttp", method, url, start, status, error)

    return _request


def install(patches: Patches) -> None:
    patches.wrap(http.client.HTTPConnection, "connect", _wrap_connect)
    patches.wrap(http.client.HTTPConnection, "putrequest", _wrap_putrequest)
    patches.wrap(http.client.HTTPConnection, "getresponse", _wrap_getresponse)
    try:
        import httpx
    except ImportError:
        pass
    else:
        patches.wrap(httpx.Client, "send", _wrap_httpx_send)
        patches.wrap(httpx.AsyncClient, "send", _wrap_httpx_asend)
    try:
        import aiohttp
    except ImportError:
        pass
    else:
        patches.wrap(aiohttp.ClientSession, "_request", _wrap_aiohttp_request)
