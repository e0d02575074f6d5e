"""``TracedASGIApp``: a callback that fails never reaches the server."""

from __future__ import annotations

import asyncio

from async_audit.asgi_client import asgi_request
from async_audit.trace import instrument_errors
from async_audit.trace.asgi import TracedASGIApp
from tests.helpers import asgi_app


def test_a_should_trace_that_raises_is_counted_and_the_request_runs_untraced():
    traces: list[object] = []

    def should_trace(scope: dict) -> bool:
        raise RuntimeError("a broken filter")

    before = instrument_errors()
    app = TracedASGIApp(asgi_app(), traces.append, should_trace=should_trace)
    response = asyncio.run(asgi_request(app, "/sync/"))
    assert response.status == 200
    assert traces == []
    assert instrument_errors() == before + 1


def test_the_scope_path_is_decoded_and_the_raw_path_percent_encoded():
    scopes: list[dict] = []

    async def app(scope, receive, send):
        scopes.append(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    asyncio.run(asgi_request(app, "/caf%C3%A9/"))
    asyncio.run(asgi_request(app, "/café/"))
    assert [s["path"] for s in scopes] == ["/café/", "/café/"]
    assert [s["raw_path"] for s in scopes] == [b"/caf%C3%A9/", b"/caf%C3%A9/"]


def test_a_path_is_sent_as_a_request_target_never_read_as_a_url():
    import asyncio

    from async_audit.asgi_client import asgi_request

    scopes: list[dict] = []

    async def app(scope, receive, send):
        scopes.append(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    for target in ("//evil.com/x?a=1#frag", "/caf%C3%A9/?q=%20"):
        asyncio.run(asgi_request(app, target))
    assert [(s["path"], s["raw_path"], s["query_string"]) for s in scopes] == [
        ("//evil.com/x", b"//evil.com/x", b"a=1"),
        ("/café/", b"/caf%C3%A9/", b"q=%20"),
    ]
