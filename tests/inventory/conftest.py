from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import AsyncToSync, SyncToAsync


async def _get(path: str) -> int:
    """GET ``path`` through a fresh ASGIHandler in-process; return the status code."""
    from django.core.handlers.asgi import ASGIHandler

    application = ASGIHandler()  # builds the chain from the current settings
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    request_sent = False
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application(scope, receive, send)
    return int(sent[0]["status"])


@pytest.fixture(autouse=True)
def _minimal_urls(settings: Any) -> None:
    """Our own two routes, so the counts do not depend on tests/testapp."""
    settings.ROOT_URLCONF = "tests.inventory.urls_minimal"


@pytest.fixture
def count_hops(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Counter[str]]:
    """Run one request and count every sync_to_async / async_to_sync call it makes."""

    def run(path: str) -> Counter[str]:
        counts: Counter[str] = Counter()
        s2a_call = SyncToAsync.__call__
        a2s_call = AsyncToSync.__call__

        async def counting_s2a(self: Any, *args: Any, **kwargs: Any) -> Any:
            counts["sync_to_async"] += 1
            return await s2a_call(self, *args, **kwargs)

        def counting_a2s(self: Any, *args: Any, **kwargs: Any) -> Any:
            counts["async_to_sync"] += 1
            return a2s_call(self, *args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(SyncToAsync, "__call__", counting_s2a)
            patch.setattr(AsyncToSync, "__call__", counting_a2s)
            status = asyncio.run(_get(path))
        assert status == 200, status
        counts["total"] = counts["sync_to_async"] + counts["async_to_sync"]
        return counts

    return run
