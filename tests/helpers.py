"""Run requests through Django's real ASGI handler in-process, traced."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.asgi import get_asgi_application

from async_audit.asgi_client import AsgiResponse, asgi_request
from async_audit.trace import Trace
from async_audit.trace.asgi import TracedASGIApp

_app: Any = None


def asgi_app() -> Any:
    global _app
    if _app is None:
        _app = get_asgi_application()
    return _app


async def traced_request(path: str) -> tuple[Trace, AsgiResponse]:
    """One GET through ``TracedASGIApp``, the owner probes use."""
    traces: list[Trace] = []
    response = await asgi_request(TracedASGIApp(asgi_app(), traces.append), path)
    (trace,) = traces
    return trace, response


def run_traced(path: str) -> tuple[Trace, AsgiResponse]:
    return asyncio.run(traced_request(path))


def run_traced_many(path: str, n: int, warmup: int = 1) -> list[Trace]:
    """``n`` requests on one event loop, as a server runs them, after ``warmup`` untimed ones."""

    async def main() -> list[Trace]:
        for _ in range(warmup):
            await asgi_request(asgi_app(), path)
        return [(await traced_request(path))[0] for _ in range(n)]

    return asyncio.run(main())
