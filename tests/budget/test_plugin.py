"""The pytest plugin, run the way users run it: pytest's own ``pytester``, in a subprocess.

Each run is a fresh pytest with pytest-django on ``tests.settings``: the fixture, the marker
and the ``unittest`` mixin, passing and failing, with their messages.
"""

from __future__ import annotations

import importlib.metadata
import os

import pytest

from tests.conftest import IN_CI, ROOT

pytest_plugins = ["pytester"]

PLUGIN = "async_audit.pytest_plugin"


def plugin_installed() -> bool:
    """Whether this environment's install of the package registers the plugin itself."""
    return any(ep.value == PLUGIN for ep in importlib.metadata.entry_points(group="pytest11"))


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tests.settings")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)

    def run(source: str, *args: str, explicit: bool = True) -> pytest.RunResult:
        pytester.makepyfile(test_inner=source)
        # A checkout whose venv lacks the entry point names the plugin; once installed, a
        # second registration would be an error.
        plugin = ["-p", PLUGIN] if explicit and not plugin_installed() else []
        return pytester.runpytest_subprocess(
            *plugin, "-p", "no:cacheprovider", "--strict-markers", *args, timeout=240
        )

    return run


FIXTURE_TESTS = """
from asgiref.sync import async_to_sync


def test_within_budget(async_budget, async_client):
    with async_budget(hops=15, blocking=0):
        assert async_to_sync(async_client.get)("/async/").status_code == 200


def test_over_budget(async_budget, async_client):
    with async_budget(hops=10):
        async_to_sync(async_client.get)("/sync/")


def test_sync_client_under_a_hop_budget(async_budget, client):
    with async_budget(hops=100):
        client.get("/async/")
"""


def test_the_fixture_passes_within_budget_and_fails_over_it_with_the_hops_listed(run):
    result = run(FIXTURE_TESTS)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*async budget exceeded by 1 of 1 request(s) (per request: hops <= 10, *",
            "*GET /sync/ -> 200 (route 'sync/', sync view tests.testapp.views.sync_view) through AsyncClient",
            "*  hops: 16, budget at most 10",
            "* 1. sync_to_async django.dispatch.dispatcher.Signal.asend.<locals>.sync_send",
            "* 2. sync_to_async django.middleware.security.SecurityMiddleware.process_request",
            "*      at django/utils/deprecation.py:* in __acall__",
            "* 9. sync_to_async tests.testapp.views.sync_view",
            "*16. sync_to_async django.http.response.HttpResponse.close ?thread_sensitive=False?",
            "*chain 13 + handler 2 hops per request, + 1 for the sync view",
        ]
    )
    # The failure points at the test's own `with` line, not into the plugin.
    result.stdout.fnmatch_lines(
        [">       with async_budget(hops=10):", "E       async_audit.budget.AsyncBudgetExceeded: *"]
    )
    result.stdout.fnmatch_lines(
        [
            "*GET /async/ -> 200 (route 'async/', async view tests.testapp.views.async_view) through Client",
            "*went through Django's sync test client (Client, the WSGI path): there is no event loop there*`async_client`*",
        ]
    )
    result.stdout.no_fnmatch_line("*test_within_budget FAILED*")


MARKER_TESTS = """
import pytest
from asgiref.sync import async_to_sync


@pytest.mark.async_budget(hops=15, blocking=0)
def test_marked_within(async_client):
    async_to_sync(async_client.get)("/async/")
    async_to_sync(async_client.get)("/")


@pytest.mark.async_budget(hops=15, blocking=0)
def test_marked_over(async_client):
    async_to_sync(async_client.get)("/async/")
    async_to_sync(async_client.get)("/async-sleep/")


@pytest.mark.async_budget(hops=15)
def test_marked_sync_client(client):
    client.get("/async/")


@pytest.mark.async_budget(hopz=15)
def test_marked_with_a_typo(async_client):
    async_to_sync(async_client.get)("/async/")


@pytest.mark.async_budget(hops=15)
def test_marked_without_requests():
    pass


@pytest.mark.async_budget(hops=15)
def test_marked_test_failing_on_its_own(async_client):
    async_to_sync(async_client.get)("/sync/")
    assert 1 == 2, "the test's own failure"
"""


def test_the_marker_budgets_every_request_of_the_test(run):
    result = run(MARKER_TESTS, "-rA")
    result.assert_outcomes(passed=1, failed=5)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.async_budget: async budget exceeded by 1 of 2 request(s)*",
            "GET /async-sleep/ -> 200 (route 'async-sleep/', async view tests.testapp.views.async_sleep) through AsyncClient",
            "  blocking calls on the event loop: 1, budget at most 0",
            "    time.sleep (sleep, *ms) at tests/testapp/views.py:31 in async_sleep",
        ]
    )
    result.stdout.fnmatch_lines(["*through Client", "*no event loop there*"])
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.async_budget: *unexpected keyword argument 'hopz'*"]
    )
    result.stdout.fnmatch_lines(["*@pytest.mark.async_budget: async budget: no request went*"])
    # A test that fails by itself keeps its own failure (the budget does not mask it).
    result.stdout.fnmatch_lines(["*AssertionError: the test's own failure*"])
    result.stdout.fnmatch_lines(["PASSED test_inner.py::test_marked_within"])


MIXIN_TESTS = """
from django.test import SimpleTestCase

from async_audit.budget import AsyncBudgetMixin


class BudgetTests(AsyncBudgetMixin, SimpleTestCase):
    async def test_within(self):
        with self.assertAsyncBudget(hops=15, blocking=0):
            response = await self.async_client.get("/async/")
        self.assertEqual(response.status_code, 200)

    async def test_over(self):
        with self.assertAsyncBudget(hops=15, exact=True):
            await self.async_client.get("/sync/")

    def test_sync_client(self):
        with self.assertAsyncBudget(hops=15):
            self.client.get("/sync/")
"""


def test_the_unittest_mixin_gives_the_same_budget_as_a_context_manager(run):
    result = run(MIXIN_TESTS, "-rA")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["PASSED test_inner.py::BudgetTests::test_within"])
    result.stdout.fnmatch_lines(["*async budget exceeded*", "*  hops: 16, budget exactly 15"])
    result.stdout.fnmatch_lines(["*through Client", "*no event loop there*"])


def test_the_marker_is_documented_in_pytest_markers(run):
    result = run("", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.async_budget(hops=None, *): every request*"])


def test_installing_the_package_is_enough_for_pytest_to_find_the_plugin(run):
    if not plugin_installed():
        message = (
            "this venv's install of django-async-audit has no pytest11 entry point "
            "(reinstall it: pip install -e '.[test]')"
        )
        if IN_CI:
            pytest.fail(f"{message}: CI installs the package", pytrace=False)
        pytest.skip(message)
    result = run(FIXTURE_TESTS, "-k", "within_budget", explicit=False)
    result.assert_outcomes(passed=1)
    assert os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") is None
    listed = run("", "--fixtures", explicit=False)
    listed.stdout.fnmatch_lines(["async_budget -- *async_audit/pytest_plugin.py*"])
