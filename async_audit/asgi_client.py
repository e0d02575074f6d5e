"""A minimal in-process ASGI HTTP client: one request through an ASGI app, no network.

Used by probes and tests. It behaves like a server for one request: the body arrives at
once, and ``http.disconnect`` is only sent after the response is complete (Django listens
for a disconnect while the view runs and would cancel it otherwise).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

__all__ = ["AsgiResponse", "asgi_request"]

Message = MutableMapping[str, Any]
AsgiApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


@dataclass
class AsgiResponse:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


async def asgi_request(
    app: AsgiApp,
    path: str,
    method: str = "GET",
    headers: Iterable[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    host: str = "testserver",
) -> AsgiResponse:
    # A request target as on the wire (``/path?query``), not a URL: urlsplit would read
    # ``//evil.com/`` as a host and request ``/``. A fragment never reaches a server.
    raw, _, query = path.partition("#")[0].partition("?")
    # As a server does: ``path`` is decoded (``/caf%C3%A9/`` is ``/café/``), ``raw_path`` is
    # the bytes on the wire (percent-encoded, whichever form was given).
    raw = raw or "/"
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw),
        "raw_path": quote(raw, safe="/%:@!$&'()*+,;=-._~").encode("ascii"),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", host.encode()), *headers],
        "client": ("127.0.0.1", 50000),
        "server": (host, 80),
    }
    response = AsgiResponse()
    done = asyncio.Event()
    sent_body = False

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            response.status = message["status"]
            response.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            response.body += message.get("body", b"")
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return response
