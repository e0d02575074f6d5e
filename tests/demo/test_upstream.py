"""demo_site.upstream: one loopback server per process, started on first use."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from demo_site import upstream


def get(url: str, timeout: float = 5.0) -> httpx.Response:
    return httpx.get(url, timeout=timeout, trust_env=False)  # no proxy for loopback


@pytest.fixture
def fresh_upstream() -> Iterator[None]:
    upstream.shutdown()
    try:
        yield
    finally:
        upstream.shutdown()


def test_base_url_is_a_loopback_url_that_answers(fresh_upstream: None) -> None:
    url = upstream.base_url()
    assert url.startswith("http://127.0.0.1:")
    assert get(f"{url}/health").json() == {"ok": True}


def test_concurrent_first_calls_start_one_server(fresh_upstream: None) -> None:
    urls: list[str] = []
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait()
        urls.append(upstream.base_url())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(urls) == 8
    assert len(set(urls)) == 1
    assert upstream.base_url() == urls[0]


def test_slow_endpoint_waits_then_answers_json(fresh_upstream: None) -> None:
    started = time.perf_counter()
    response = get(f"{upstream.base_url()}/slow/80/pricing")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "pricing"
    assert body["ms"] == 80
    assert isinstance(body["value"], float)
    assert elapsed >= 0.08  # it waited; how much longer depends on the machine's load


def test_same_name_gives_same_value(fresh_upstream: None) -> None:
    url = upstream.base_url()
    first = get(f"{url}/slow/0/quote").json()
    second = get(f"{url}/slow/0/quote").json()
    assert first == second


def test_unknown_path_is_a_404_with_a_hint(fresh_upstream: None) -> None:
    response = get(f"{upstream.base_url()}/nope")
    assert response.status_code == 404
    assert "/slow/" in response.json()["error"]


def test_shutdown_then_base_url_starts_a_new_server(fresh_upstream: None) -> None:
    first = upstream.base_url()
    upstream.shutdown()
    second = upstream.base_url()
    assert get(f"{second}/health").status_code == 200
    if second != first:  # the OS may hand the freed port out again
        with pytest.raises(httpx.ConnectError):
            get(f"{first}/health", timeout=1.0)
