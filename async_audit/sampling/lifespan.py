"""The ASGI lifespan protocol for Django's handler, so a server's shutdown flushes the samples.

Django's ``ASGIHandler`` refuses lifespan (``ValueError``; Django ticket #31508), and uvicorn,
after a graceful shutdown, restores the default SIGTERM handler and raises the signal again:
the process ends without running ``atexit``, so an exit flush never runs there. Servers that
speak lifespan (uvicorn, granian, hypercorn) do send ``lifespan.shutdown`` once the last
request is done; answering it is the one moment the writer can be told.

With the sampling middleware on, ``ASGIHandler.__call__`` answers lifespan scopes that
Django itself refuses: startup does nothing, shutdown closes this process's writer (in a
thread: the loop stays free). Every other scope goes to Django untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["answer_lifespan"]

Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

_patched = False


def answer_lifespan() -> None:
    """Make Django's ASGI handler answer lifespan (once per process)."""
    global _patched
    if _patched:
        return
    from django.core.handlers.asgi import ASGIHandler

    original = ASGIHandler.__call__

    async def __call__(
        self: ASGIHandler, scope: dict[str, Any], receive: Receive, send: Send
    ) -> Any:
        try:
            return await original(self, scope, receive, send)
        except ValueError:
            # Django refuses lifespan before reading a message; a Django that speaks it
            # itself keeps the word.
            if scope.get("type") != "lifespan":
                raise
            await _lifespan(receive, send)

    __call__.__wrapped__ = original  # type: ignore[attr-defined]
    ASGIHandler.__call__ = __call__  # type: ignore[method-assign]
    _patched = True


async def _lifespan(receive: Receive, send: Send) -> None:
    from async_audit.sampling.writer import current_writer

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            writer = current_writer()
            if writer is not None:
                # Bounded: close() gives a stuck storage EXIT_TIMEOUT_SECONDS, then counts
                # what it could not write as dropped and says so.
                await asyncio.get_running_loop().run_in_executor(None, writer.close)
            await send({"type": "lifespan.shutdown.complete"})
            return
