"""Verdict rules on real traces of purpose-built views, run in-process."""

from __future__ import annotations

import pytest

from async_audit.verdicts import Thresholds, judge_route
from tests.helpers import run_traced_many

pytestmark = [pytest.mark.usefixtures("installed"), pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _upstream_env(upstream, monkeypatch):
    monkeypatch.setenv("AA_UPSTREAM", upstream)


def judge(path: str, n: int = 3, **th):
    # One event loop for all, after a warm-up request, as on a server.
    traces = [t.to_dict() for t in run_traced_many(path, n)]
    return judge_route(traces, Thresholds(**th))


def codes(verdict) -> list[str]:
    return sorted(f.code for f in verdict.findings)


def test_sync_fanout_is_an_io_bound_async_candidate_with_the_calls_as_evidence():
    v = judge("/pairs/fanout/sync/")
    assert codes(v) == ["AA305", "AA306"]
    assert v.verdict == "async-candidate"
    fanout = next(f for f in v.findings if f.code == "AA306")
    assert [c["path"] for c in fanout.evidence["calls"]] == [
        "/slow/60/0",
        "/slow/60/1",
        "/slow/60/2",
    ]
    io_bound = next(f for f in v.findings if f.code == "AA305")
    ev = io_bound.evidence
    assert ev["io_ms"] >= 180 and ev["predicted_async_ms"] < ev["wall_ms"] - 100
    assert {"io_ms", "cpu_ms", "hop_ms", "predicted_async_ms"} <= set(ev)
    assert (
        io_bound.target == "tests.testapp.views.fanout_sync"
        and io_bound.route == "pairs/fanout/sync/"
    )
    assert "httpx.AsyncClient" in io_bound.message


def test_one_slow_call_is_io_bound_but_not_a_fanout():
    assert codes(judge("/pairs/slow/sync/")) == ["AA305"]


def test_the_async_fanout_that_already_gathers_has_nothing_to_fix():
    v = judge("/pairs/fanout/async/")
    # It failed once beside two CPU hogs (2026-12-03), its findings unrecorded: named now.
    assert codes(v) == [] and v.verdict == "ok", [
        (f.code, f.message, f.evidence) for f in v.findings
    ]


@pytest.mark.parametrize("path", ["/pairs/cpu/sync/", "/pairs/db/sync/"])
def test_cpu_bound_and_short_db_only_views_are_kept_sync(path):
    v = judge(path)
    assert codes(v) == ["AA307"], [(f.code, f.message, f.evidence) for f in v.findings]
    assert v.verdict == "keep-sync"


def test_cpu_bound_keep_sync_says_why():
    v = judge("/pairs/cpu/sync/")
    # The reason is this test's subject; which codes fire is the test above's. (A CI run
    # on Python 3.12 once saw a second finding here, not kept in its log: the message
    # below names them all.)
    finding = next((f for f in v.findings if f.code == "AA307"), None)
    assert finding is not None, [(f.code, f.message, f.evidence) for f in v.findings]
    # The evidence in the message: a fresh machine's first run once judged this "little to
    # wait for" instead, and the figures are what tells why.
    assert finding.evidence["cpu_bound"] is True, finding.evidence
    assert "CPU-bound" in finding.message


def test_blocking_sleep_in_an_async_view_is_an_error_pointing_at_the_line():
    v = judge("/async-sleep/", n=1)
    (finding,) = [f for f in v.findings if f.code == "AA301"]
    assert finding.severity == "error" and v.verdict == "fix-first"
    assert finding.evidence["site"][2] == "async_sleep"
    assert "asyncio.sleep" in finding.message


def test_blocking_inside_a_sync_views_thread_is_not_aa301():
    assert "AA301" not in codes(judge("/sync-sleep/", n=1))


def test_one_orm_call_in_an_async_view_is_not_hop_heavy():
    assert codes(judge("/one-orm-async/")) == []


def test_an_async_view_doing_its_work_in_many_hops_is_hop_heavy():
    v = judge("/hop-heavy-async/")
    assert "AA303" in codes(v)
    (finding,) = [f for f in v.findings if f.code == "AA303"]
    assert finding.evidence["view_hops"] == 8


def test_gathered_thread_sensitive_hops_queue_for_the_requests_thread():
    v = judge("/gathered-hops-async/")
    assert "AA304" in codes(v)
    (finding,) = [f for f in v.findings if f.code == "AA304"]
    assert finding.evidence["max_queue_wait_ms"] >= 25


def test_synchronous_only_operation_is_aa308():
    v = judge("/async-sync-orm/", n=1)
    assert "AA308" in codes(v) and v.verdict == "fix-first"


def test_thresholds_change_the_outcome():
    # With the I/O threshold above what the view waits, the one-call view is no longer AA305.
    assert codes(judge("/pairs/slow/sync/", io_ms=10_000)) == ["AA307"]


def test_route_figures_follow_the_contract():
    v = judge("/pairs/slow/sync/", n=4)
    f = v.figures
    assert {"route", "view", "samples", "p50_ms", "p95_ms", "io_ms", "cpu_ms", "io_share", "hops", "hop_ms",
            "blocking_calls", "verdict"} <= set(f)  # fmt: skip
    assert f["samples"] == 4 and f["hops"] == 16 and f["p95_ms"] >= f["p50_ms"] >= 80
    # io_share is of wall time, which a busy machine stretches; the verdict is not.
    assert 0.0 < f["io_share"] <= 1.0 and f["verdict"] == "async-candidate"


def test_a_sites_file_is_shown_relative_under_the_project_and_absolute_elsewhere(
    tmp_path, monkeypatch
):
    import os

    from async_audit.findings import display_path

    monkeypatch.chdir(tmp_path)
    assert display_path(str(tmp_path / "shop" / "views.py")) == os.path.join("shop", "views.py")
    assert display_path("/usr/lib/python3.11/threading.py") == "/usr/lib/python3.11/threading.py"
    assert display_path("shop/views.py") == "shop/views.py"
