"""Every demo page under uvicorn: its status, and that the paired views do the same work."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from demo_site.shop.cases import CASES, Case
from demo_site.shop.pairs import PAIRS

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def client(demo_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo_server, timeout=30.0, trust_env=False) as c:
        yield c


def _wall(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text[:500]
    return elapsed


def test_index_links_every_case(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    for case in CASES:
        assert f'href="{case.path}"' in response.text
        for code in case.expect:
            assert code in response.text
    assert "/static/demo/demo.css" in response.text


def test_stylesheet_is_served(client: httpx.Client) -> None:
    response = client.get("/static/demo/demo.css")
    assert response.status_code == 200
    assert "table.cases" in response.text


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_answers_with_its_status(client: httpx.Client, case: Case) -> None:
    response = client.get(case.path)
    assert response.status_code == case.status, response.text[:2000]


def test_sync_orm_page_fails_with_synchronous_only_operation(client: httpx.Client) -> None:
    response = client.get("/mistakes/sync-orm/")
    assert response.status_code == 500
    assert "SynchronousOnlyOperation" in response.text


def test_hidden_by_decorator_page_fails_with_an_unawaited_coroutine(client: httpx.Client) -> None:
    response = client.get("/mistakes/hidden-by-decorator/")
    assert response.status_code == 500
    assert "unawaited coroutine" in response.text


def test_middleware_headers_are_set(client: httpx.Client) -> None:
    response = client.get("/good/async/", headers={"X-Request-ID": "abc123"})
    assert response.headers["X-Request-ID"] == "abc123"
    assert response.headers["Server-Timing"].startswith("app;dur=")
    assert float(response.headers["X-Request-Time-Ms"]) > 0


def test_async_fanout_is_much_faster_than_sync(client: httpx.Client) -> None:
    pair = next(p for p in PAIRS if p["name"] == "fanout")
    _wall(client, pair["sync"])  # warm both: imports, first connections
    _wall(client, pair["async"])
    sync = min(_wall(client, pair["sync"]) for _ in range(3))
    async_ = min(_wall(client, pair["async"]) for _ in range(3))
    assert sync >= 0.3
    # Two of the three 100 ms calls overlap: a saving no load on the machine takes away
    # (a ratio would shrink as CPU overhead grows on both sides).
    assert sync - async_ >= 0.15, (sync, async_)


def test_one_slow_call_takes_as_long_either_way(client: httpx.Client) -> None:
    pair = next(p for p in PAIRS if p["name"] == "slow-call")
    _wall(client, pair["async"])
    sync = min(_wall(client, pair["sync"]) for _ in range(3))
    async_ = min(_wall(client, pair["async"]) for _ in range(3))
    assert sync >= 0.15 and async_ >= 0.15
    assert abs(sync - async_) < 0.1, (sync, async_)


def test_gathered_sync_calls_queue_on_one_thread(client: httpx.Client) -> None:
    # Four 30 ms calls: ~30 ms if they overlapped, 120 ms+ since they queue (AA304).
    assert _wall(client, "/hops/gathered-sync-calls/") >= 0.12


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p["name"])
def test_paired_views_return_the_same_result(client: httpx.Client, pair: dict[str, str]) -> None:
    sync = client.get(pair["sync"])
    async_ = client.get(pair["async"])
    assert sync.status_code == async_.status_code == 200
    if sync.headers["Content-Type"].startswith("application/json"):
        sync_data, async_data = sync.json(), async_.json()
        assert (sync_data["mode"], async_data["mode"]) == ("sync", "async")
        for data in (sync_data, async_data):
            del data["mode"], data["view_ms"]
        assert sync_data == async_data
    else:
        table = re.compile(r"<tbody>.*?</tbody>", re.S)
        sync_rows = table.search(sync.text)
        async_rows = table.search(async_.text)
        assert sync_rows is not None and async_rows is not None
        assert sync_rows.group() == async_rows.group()
        assert sync_rows.group().count("<tr>") == 20
