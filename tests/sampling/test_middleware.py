from __future__ import annotations

import asyncio
import io
import json

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test import Client, override_settings

from async_audit.asgi_client import asgi_request
from async_audit.inventory.chain import analyse_chain
from async_audit.sampling import writer
from async_audit.storage import as_trace
from async_audit.trace.asgi import TracedASGIApp
from tests.settings import MIDDLEWARE

SAMPLING = "async_audit.middleware.SamplingMiddleware"
WITH = [SAMPLING, *MIDDLEWARE]


def _settings(tmp_path, rate: float, middleware=WITH):
    return override_settings(
        MIDDLEWARE=middleware,
        ASYNC_AUDIT={
            "SAMPLE_RATE": rate,
            "SAMPLE_SINK": "file",
            "SAMPLE_FILE": str(tmp_path / "s.jsonl"),
            "SAMPLE_FLUSH_SECONDS": 1000.0,
        },
    )


def _hops_of(path: str) -> list[int]:
    """Hops per traced request, outer (whole ASGI request) first, for one request."""
    traces = []
    app = TracedASGIApp(ASGIHandler(), traces.append)

    async def run() -> None:
        await asgi_request(app, path)  # warm-up
        traces.clear()
        await asgi_request(app, path)

    asyncio.run(run())
    return [len(t.hops) for t in traces]


def _lines(tmp_path) -> list[dict]:
    path = tmp_path / "s.jsonl"
    return [json.loads(line) for line in path.open()] if path.exists() else []


def _samples(tmp_path) -> list[dict]:
    """The stored samples as the report reads them (a row of schema 3 expanded)."""
    writer.current_writer().flush()
    out = []
    for d in _lines(tmp_path):
        if d.get("kind") != "sampling_counters":
            trace, error = as_trace(d)
            assert error is None, error
            out.append(trace)
    return out


def _direct_hops(path: str) -> int:
    """asgiref calls of one request through the plain ASGI handler, counted above our
    instruments (nothing else traces the request, so the middleware samples it)."""
    from asgiref.sync import AsyncToSync, SyncToAsync

    count = 0
    s2a, a2s = SyncToAsync.__call__, AsyncToSync.__call__

    async def counting_s2a(self, *args, **kwargs):
        nonlocal count
        count += 1
        return await s2a(self, *args, **kwargs)

    def counting_a2s(self, *args, **kwargs):
        nonlocal count
        count += 1
        return a2s(self, *args, **kwargs)

    app = ASGIHandler()

    async def run() -> None:
        nonlocal count
        await asgi_request(app, path)  # warm-up
        count = 0
        await asgi_request(app, path)

    SyncToAsync.__call__, AsyncToSync.__call__ = counting_s2a, counting_a2s
    try:
        asyncio.run(run())
    finally:
        SyncToAsync.__call__, AsyncToSync.__call__ = s2a, a2s
    return count


def test_the_middleware_adds_no_hop_under_asgi_sampled_or_not(tmp_path, installed):
    with _settings(tmp_path, 0.0, middleware=MIDDLEWARE):
        (without,) = _hops_of("/async/")
    with _settings(tmp_path, 0.0):
        (unsampled,) = _hops_of("/async/")
    with _settings(tmp_path, 1.0):
        sampled = _direct_hops("/async/")
        (sample,) = [s for s in _samples(tmp_path) if s["route"] == "async/"][-1:]
    assert without == unsampled == sampled == 15
    # The sample holds the chain's hops; the ASGI handler's two happen outside the chain.
    chain = analyse_chain(WITH, verify=False)
    assert sample["summary"]["hops"] == chain.chain_hops == 13


def test_a_request_a_probe_already_traces_is_not_sampled(tmp_path, installed):
    with _settings(tmp_path, 1.0):
        (probed,) = _hops_of("/async/")
        assert _samples(tmp_path) == []
    assert probed == 15


def test_the_chain_audit_sees_it_async_with_no_hop_and_every_other_mode_unchanged():
    before = {
        m.path: (m.mode_under_asgi, m.hops_per_request)
        for m in analyse_chain(MIDDLEWARE, verify=False).members
    }
    after = analyse_chain(WITH, verify=False)
    first = after.members[0]
    assert (first.path, first.mode_under_asgi, first.hops_per_request) == (SAMPLING, "async", 0)
    assert {m.path: (m.mode_under_asgi, m.hops_per_request) for m in after.members[1:]} == before
    assert after.adapters == analyse_chain(MIDDLEWARE, verify=False).adapters


@pytest.mark.django_db(transaction=True)
def test_a_sampled_request_is_stored_under_its_route_pattern_never_its_path(
    tmp_path, upstream, monkeypatch
):
    monkeypatch.setenv("AA_UPSTREAM", upstream)
    with _settings(tmp_path, 1.0):
        app = ASGIHandler()
        asyncio.run(asgi_request(app, "/tagged/sync/12345/?token=abc"))
        (sample,) = _samples(tmp_path)
    assert sample["route"] == "tagged/sync/<int:rid>/"
    assert sample["view"] == "tests.testapp.views.sync_tagged"
    assert sample["status"] == 200 and sample["method"] == "GET"
    stored = json.dumps(sample)
    assert "tagged/sync/12345" not in stored and "token" not in stored and "abc" not in stored
    assert sample["tags"] == {"rid": 12345}  # what the view chose to tag is kept


def test_under_wsgi_it_runs_sync_and_samples(tmp_path):
    with _settings(tmp_path, 1.0):
        response = Client().get("/sync/")
        assert response.status_code == 200
        (sample,) = _samples(tmp_path)
    assert sample["route"] == "sync/" and sample["view_is_async"] is False
    assert sample["summary"]["hops"] == 0


def test_an_unsampled_request_sets_no_trace_and_stores_nothing(tmp_path):
    from async_audit.trace import core

    with _settings(tmp_path, 0.0):
        started = []
        original = core.start_trace
        try:
            core.start_trace = lambda *a, **k: started.append(a) or original(*a, **k)  # type: ignore[assignment]
            assert Client().get("/sync/").status_code == 200
        finally:
            core.start_trace = original
        assert _samples(tmp_path) == [] and started == []


def test_at_rate_zero_the_instruments_wait_for_the_first_forced_sample(tmp_path):
    from async_audit import instruments
    from async_audit.sampling.decide import FORCE_META, force_token

    with _settings(tmp_path, 0.0):
        client = Client()
        assert client.get("/sync/").status_code == 200
        assert not instruments.installed()  # rate 0: nothing traced, nothing patched
        assert client.get("/sync/", **{FORCE_META: force_token("/sync/")}).status_code == 200
        assert instruments.installed()
        (sample,) = _samples(tmp_path)
    assert sample["route"] == "sync/" and sample["forced"] is True


def test_the_commands_probes_and_their_warm_ups_are_not_stored_as_traffic(tmp_path):
    # The command probes the project's real ASGI app in this process: its requests (the
    # untraced warm-up too) are not the site's traffic and must not become samples.
    from django.core.management import call_command

    with _settings(tmp_path, 1.0):
        call_command("async_audit", "--probe", "/sync/", "--probe", "/async/", "--no-samples",
                     stdout=io.StringIO())  # fmt: skip
        assert writer.current_writer() is not None
        assert _samples(tmp_path) == []
        assert writer.current_writer().counters()["sampled"] == 0
        assert [d for d in _lines(tmp_path) if d.get("kind") == "sampling_counters"] == []
        # The same project's own requests still are.
        asyncio.run(asgi_request(ASGIHandler(), "/sync/"))
        assert [s["route"] for s in _samples(tmp_path)] == ["sync/"]


def test_django_answers_lifespan_and_its_shutdown_writes_the_queued_samples(tmp_path):
    with _settings(tmp_path, 1.0):
        app = ASGIHandler()  # builds the chain: the middleware answers lifespan from here
        sent: list[dict] = []

        async def run() -> None:
            await asgi_request(app, "/async/")
            inbox = asyncio.Queue()
            for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
                inbox.put_nowait(message)

            async def send(message: dict) -> None:
                sent.append(message)

            await app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)

        asyncio.run(run())
        assert [m["type"] for m in sent] == [
            "lifespan.startup.complete",
            "lifespan.shutdown.complete",
        ]
        path = tmp_path / "s.jsonl"  # written by the shutdown (the interval is 1000 s)
        lines = [json.loads(line) for line in path.open()]
        assert [d["route"] for d in lines if d.get("kind") != "sampling_counters"] == ["async/"]
        # Any other scope Django refuses is still refused.
        with pytest.raises(ValueError, match="websocket"):
            asyncio.run(app({"type": "websocket"}, inbox_never, send_never))


async def inbox_never() -> dict:
    raise AssertionError("not read")


async def send_never(message: dict) -> None:
    raise AssertionError("not sent")
