"""AsyncBudget in-process, through Django's own test clients (pytest-django's fixtures)."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient
from django.test.client import AsyncClientHandler, ClientHandler

from async_audit import instruments
from async_audit.budget import AsyncBudget, AsyncBudgetExceeded
from tests.helpers import run_traced


def _get(async_client: AsyncClient, path: str) -> int:
    return async_to_sync(async_client.get)(path).status_code


@pytest.mark.parametrize(("path", "hops"), [("/async/", 15), ("/sync/", 16)])
def test_async_client_counts_the_same_hops_as_the_real_asgi_handler(async_client, path, hops):
    with AsyncBudget(hops, exact=True) as budget:
        assert _get(async_client, path) == 200
    (record,) = budget.requests
    instruments.install()
    try:
        trace, _ = run_traced(path)  # Django's ASGIHandler, as tests/instruments measure it
    finally:
        instruments.uninstall()
    assert len(record.trace.hops) == len(trace.hops) == hops
    assert [h.target for h in record.trace.hops] == [h.target for h in trace.hops]
    # The one difference: the test client closes the response off the request's thread.
    assert record.trace.hops[-1].target == "django.http.response.HttpResponse.close"
    assert (record.trace.hops[-1].thread_sensitive, trace.hops[-1].thread_sensitive) == (
        False,
        True,
    )


def test_each_request_gets_its_own_trace_named_by_its_route(async_client):
    with AsyncBudget(16) as budget:
        _get(async_client, "/async/")
        _get(async_client, "/sync/")
        _get(async_client, "/")
        _get(async_client, "/nowhere/")
    routes = [(r.method, r.path, r.trace.route, r.trace.status) for r in budget.requests]
    assert routes == [
        ("GET", "/async/", "async/", 200),
        ("GET", "/sync/", "sync/", 200),
        ("GET", "/", "", 200),
        ("GET", "/nowhere/", None, 404),
    ]
    assert [r.client for r in budget.requests] == ["AsyncClient"] * 4


def test_a_request_over_the_hop_budget_fails_listing_its_hops_and_the_middleware(async_client):
    with pytest.raises(AsyncBudgetExceeded) as failed, AsyncBudget(hops=12):
        _get(async_client, "/async/")
        _get(async_client, "/sync/")
    message = str(failed.value)
    assert message.startswith("async budget exceeded by 2 of 2 request(s) (per request: hops <= 12")
    assert (
        "GET /async/ -> 200 (route 'async/', async view tests.testapp.views.async_view) through AsyncClient"
        in message
    )
    assert "  hops: 15, budget at most 12" in message
    assert "  hops: 16, budget at most 12" in message
    # Each hop with its target and call site, numbered like assertNumQueries' list.
    assert (
        " 2. sync_to_async django.middleware.security.SecurityMiddleware.process_request\n"
        in message
    )
    assert "at django/utils/deprecation.py:" in message
    assert "8. sync_to_async django.middleware.csrf.CsrfViewMiddleware.process_view" in message
    assert "django.http.response.HttpResponse.close [thread_sensitive=False]" in message
    # What each middleware costs, from the chain audit, and the AsyncClient note.
    assert "django.middleware.csrf.CsrfViewMiddleware 3" in message
    assert "chain 13 + handler 2 hops per request" in message
    assert "counted through Django's AsyncClient" in message


def test_a_budget_at_the_real_count_passes_and_exact_fails_below_it(async_client):
    with AsyncBudget(hops=15, blocking=0):
        _get(async_client, "/async/")
    with pytest.raises(AsyncBudgetExceeded, match="hops: 15, budget exactly 16"):  # noqa: SIM117
        with AsyncBudget(hops=16, exact=True):
            _get(async_client, "/async/")


def test_a_blocking_call_in_an_async_view_fails_at_the_project_line(async_client):
    with pytest.raises(AsyncBudgetExceeded) as failed, AsyncBudget():
        _get(async_client, "/async-sleep/")
    message = str(failed.value)
    assert "  blocking calls on the event loop: 1, budget at most 0" in message
    assert "time.sleep (sleep, " in message
    assert "at tests/testapp/views.py:31 in async_sleep" in message


def test_a_blocking_budget_of_one_allows_that_call(async_client):
    with AsyncBudget(blocking=1):
        _get(async_client, "/async-sleep/")


@pytest.mark.django_db
def test_queries_per_request_are_counted_and_listed(async_client):
    with AsyncBudget(queries=2, exact=True):
        _get(async_client, "/pairs/db/async/")
    with pytest.raises(AsyncBudgetExceeded) as failed, AsyncBudget(queries=1):
        _get(async_client, "/pairs/db/async/")
    message = str(failed.value)
    assert "  queries: 2, budget at most 1" in message
    # Placeholders, never the parameters.
    assert (
        ' 1. [default] SELECT %s AS "a" FROM "auth_user" WHERE "auth_user"."username" = %s LIMIT 1'
        in message
    )
    assert ' 2. [default] SELECT COUNT(*) AS "__count" FROM "auth_user"' in message


@pytest.mark.django_db
def test_synchronous_only_operation_fails_with_where_it_was_raised():
    quiet = AsyncClient(raise_request_exception=False)
    with pytest.raises(AsyncBudgetExceeded) as failed, AsyncBudget():
        assert _get(quiet, "/async-sync-orm/") == 500
    message = str(failed.value)
    assert "  SynchronousOnlyOperation raised: 1, budget at most 0" in message
    assert "at tests/testapp/views.py:" in message and "in async_sync_orm" in message


@pytest.mark.django_db
def test_a_synchronous_only_operation_the_client_reraises_is_explained(async_client):
    with pytest.raises(AsyncBudgetExceeded) as failed, AsyncBudget():
        _get(async_client, "/async-sync-orm/")
    assert "GET /async-sync-orm/ -> 500" in str(failed.value)
    assert type(failed.value.__cause__).__name__ == "SynchronousOnlyOperation"


def test_a_synchronous_only_operation_of_the_test_itself_is_left_alone():
    from django.core.exceptions import SynchronousOnlyOperation

    with pytest.raises(SynchronousOnlyOperation, match="the test's own"), AsyncBudget():
        raise SynchronousOnlyOperation("the test's own")


def test_a_hop_budget_on_the_sync_client_fails_and_says_to_use_async_client(client):
    with pytest.raises(AsyncBudgetExceeded) as failed, AsyncBudget(hops=100):
        assert client.get("/async/").status_code == 200
    message = str(failed.value)
    assert (
        "GET /async/ -> 200 (route 'async/', async view tests.testapp.views.async_view) through Client"
        in message
    )
    assert "no event loop there" in message and "`async_client`" in message


@pytest.mark.django_db
def test_a_query_budget_holds_on_the_sync_client(client):
    with AsyncBudget(queries=2, exact=True) as budget:
        client.get("/pairs/db/sync/")
    assert len(budget.requests) == 1


def test_a_block_without_any_request_fails():
    with pytest.raises(AsyncBudgetExceeded, match="no request went through"), AsyncBudget(hops=1):
        pass


@pytest.mark.django_db
def test_requests_through_an_asgi_handler_are_budgeted_too():
    from async_audit.asgi_client import asgi_request

    with AsyncBudget(hops=15, exact=True) as budget:
        response = async_to_sync(asgi_request)(ASGIHandler(), "/async/")
    assert response.status == 200
    assert [(r.client, r.trace.status, r.trace.route) for r in budget.requests] == [
        ("ASGIHandler", 200, "async/")
    ]
    assert budget.requests[0].trace.hops[-1].thread_sensitive


def test_nested_budgets_share_one_trace_per_request(async_client):
    with AsyncBudget(hops=15) as outer:
        with AsyncBudget(hops=15) as inner:
            _get(async_client, "/async/")
        _get(async_client, "/async/")
    assert len(inner.requests) == 1 and len(outer.requests) == 2
    assert inner.requests[0] is outer.requests[0]
    assert len(inner.requests[0].trace.hops) == 15


def test_the_handlers_and_instruments_are_put_back_after_the_block(async_client):
    originals = [
        cls.__dict__["__call__"] for cls in (AsyncClientHandler, ClientHandler, ASGIHandler)
    ]
    assert not instruments.installed()
    with pytest.raises(AsyncBudgetExceeded), AsyncBudget(hops=0):
        assert instruments.installed()
        _get(async_client, "/async/")
    assert not instruments.installed()
    assert [
        cls.__dict__["__call__"] for cls in (AsyncClientHandler, ClientHandler, ASGIHandler)
    ] == originals


def test_instruments_installed_before_the_block_stay_installed(async_client):
    instruments.install()
    try:
        with AsyncBudget(hops=15):
            _get(async_client, "/async/")
        assert instruments.installed()
    finally:
        instruments.uninstall()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"hops": -1}, "hops must be a whole number >= 0 or None, not -1"),
        ({"queries": 1.5}, "queries must be a whole number >= 0 or None, not 1.5"),
        ({"blocking": True}, "blocking must be a whole number >= 0 or None, not True"),
        ({"exact": True}, "exact=True needs hops= or queries= to compare with"),
    ],
)
def test_bad_limits_are_refused_in_one_line(kwargs, error):
    with pytest.raises(ValueError, match=error):
        AsyncBudget(**kwargs)


def test_the_budget_and_its_report_import_without_pytest():
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import sys; sys.modules['pytest'] = None; import django; django.setup(); "
        "import async_audit.budget, async_audit.budget_report; print('imported')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.strip() == "imported", proc.stderr


def test_a_truncated_trace_never_passes(async_client, settings):
    settings.ASYNC_AUDIT = {"MAX_EVENTS_PER_TRACE": 5}
    with pytest.raises(AsyncBudgetExceeded) as failed, AsyncBudget(hops=100):
        _get(async_client, "/async/")
    assert re.search(
        r"\n  \d+ event\(s\) were dropped \(the trace holds at most 5\)", str(failed.value)
    )
    assert "MAX_EVENTS_PER_TRACE" in str(failed.value)


def test_only_blocking_calls_from_project_code_count_against_the_budget():
    import django

    from async_audit.budget import RequestRecord
    from async_audit.trace import BlockingCall, traced

    def call(site):
        return BlockingCall(start=0.0, end=0.001, thread=1, on_loop=True, call="x", site=site)

    with traced() as trace:
        pass
    trace.add(call(None))  # asgiref starting a thread: no frame outside the libraries
    trace.add(call((django.__file__, 1, "django_internal")))
    record = RequestRecord(method="GET", path="/", client="AsyncClient", trace=trace)
    assert AsyncBudget().problems(record) == []
    trace.add(call((__file__, 10, "view")))
    assert AsyncBudget().problems(record) == ["blocking"]
    assert AsyncBudget(blocking=1).problems(record) == []
