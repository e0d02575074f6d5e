from __future__ import annotations

import asyncio
import urllib.request

import aiohttp
import httpx
import pytest
import requests

from async_audit.trace import traced

pytestmark = pytest.mark.usefixtures("installed")


def _only_call(trace):
    (call,) = trace.http_calls
    return call


def test_urllib_call_is_recorded_without_its_query_string(upstream):
    with traced() as trace:
        urllib.request.urlopen(f"{upstream}/slow/20/a?token=secret").read()
    call = _only_call(trace)
    assert (call.client, call.method, call.host, call.path, call.status) == (
        "http.client",
        "GET",
        "127.0.0.1",
        "/slow/20/a",
        200,
    )
    assert call.duration >= 0.02
    assert "secret" not in str(trace.to_dict())


def test_requests_calls_on_a_kept_alive_connection_are_recorded_each(upstream):
    with traced() as trace, requests.Session() as session:
        for i in range(3):
            session.get(f"{upstream}/echo/{i}?q=1").raise_for_status()
    assert [c.path for c in trace.http_calls] == ["/echo/0", "/echo/1", "/echo/2"]
    assert all(c.client == "http.client" and c.status == 200 for c in trace.http_calls)


def test_httpx_sync_and_async_calls_are_recorded(upstream):
    async def main():
        with traced() as trace:
            with httpx.Client() as client:
                client.get(f"{upstream}/echo/sync?x=1")
            async with httpx.AsyncClient() as client:
                await client.get(f"{upstream}/echo/async?x=1")
        return trace

    trace = asyncio.run(main())
    assert [(c.client, c.path, c.status) for c in trace.http_calls] == [
        ("httpx", "/echo/sync", 200),
        ("httpx", "/echo/async", 200),
    ]
    assert all(c.on_loop for c in trace.http_calls)


def test_aiohttp_calls_are_recorded_and_overlap_when_gathered(upstream):
    async def main():
        with traced() as trace:
            async with aiohttp.ClientSession() as session:

                async def get(i: int) -> None:
                    async with session.get(f"{upstream}/slow/50/{i}?k=v") as response:
                        await response.read()

                await asyncio.gather(*(get(i) for i in range(3)))
        return trace

    calls = asyncio.run(main()).http_calls
    assert sorted(c.path for c in calls) == ["/slow/50/0", "/slow/50/1", "/slow/50/2"]
    assert all(c.client == "aiohttp" and c.status == 200 for c in calls)
    # Gathered calls overlap in time: each starts before any of them ends.
    assert max(c.start for c in calls) < min(c.end for c in calls)


def test_a_failed_connection_is_recorded_with_its_error():
    with traced() as trace, pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:9/nothing-listens-here", timeout=2)
    # http.client connects lazily inside the request: the call is recorded with its error.
    assert all(c.error for c in trace.http_calls)
