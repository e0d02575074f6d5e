"""pytest plugin: async budgets on requests, like ``django_assert_num_queries`` for hops.

Registered through the ``pytest11`` entry point (name ``async_audit``; ``-p no:async_audit``
turns it off). It imports nothing of Django until a budget is used, so it costs a test run
that does not use it nothing.

- the ``async_budget`` fixture::

      def test_items(async_budget, async_client):
          with async_budget(hops=15, blocking=0, queries=2):
              async_to_sync(async_client.get)("/items/")

- the ``@pytest.mark.async_budget(hops=15, blocking=0)`` marker: the same budget on every
  request the whole test makes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from async_audit.budget import AsyncBudget

__all__ = ["async_budget", "pytest_configure", "pytest_runtest_call"]

_MARKER = "async_budget"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(hops=None, *, blocking=0, queries=None, sync_only_errors=0, exact=False): "
        "every request the test makes through Django's test clients must keep to these "
        "per-request limits (django-async-audit)",
    )


@pytest.fixture
def async_budget() -> Callable[..., AsyncBudget]:
    """``with async_budget(hops=15, blocking=0, queries=None, exact=False):`` around requests."""
    from async_audit.budget import AsyncBudget

    return AsyncBudget


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    marker = item.get_closest_marker(_MARKER)
    if marker is None:
        return (yield)
    from async_audit.budget import AsyncBudget, AsyncBudgetExceeded

    problem: str | None = None
    try:
        budget = AsyncBudget(*marker.args, **marker.kwargs)
    except (TypeError, ValueError) as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(f"@pytest.mark.{_MARKER}: {problem}", pytrace=False)
    failure: str | None = None
    try:
        with budget:
            return (yield)
    except AsyncBudgetExceeded as exc:
        failure = str(exc)
    # Outside the except block: the budget belongs to the whole test, and a chained
    # traceback through the plugin would only distract.
    pytest.fail(f"@pytest.mark.{_MARKER}: {failure}", pytrace=False)
