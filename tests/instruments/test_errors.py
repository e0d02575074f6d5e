from __future__ import annotations

import pytest

from tests.helpers import run_traced
from tests.testapp import views

pytestmark = pytest.mark.usefixtures("installed")


def test_synchronous_only_operation_in_an_async_view_is_recorded_with_its_site():
    trace, response = run_traced("/async-sync-orm/")
    assert response.status == 500
    (exc,) = trace.exceptions
    assert exc.type_name == "django.core.exceptions.SynchronousOnlyOperation"
    assert (
        exc.site is not None and exc.site[0] == views.__file__ and exc.site[2] == "async_sync_orm"
    )
    assert trace.summary()["exceptions"] == ["django.core.exceptions.SynchronousOnlyOperation"]


def test_the_trace_knows_the_route_and_whether_the_view_is_async():
    trace, _ = run_traced("/sync/")
    assert (trace.route, trace.view, trace.view_is_async) == (
        "sync/",
        "tests.testapp.views.sync_view",
        False,
    )
    trace, _ = run_traced("/async/")
    assert (trace.route, trace.view_is_async) == ("async/", True)
    assert trace.exceptions == []


def test_a_stored_trace_keeps_the_exception_type_and_site_but_never_its_message():
    import json

    trace, _ = run_traced("/async-sync-orm/")
    (exc,) = trace.exceptions
    assert exc.message  # in memory, for the toolbar panel (private=True) only
    stored = json.dumps(trace.to_dict())
    assert exc.message not in stored and "async context" not in stored
    assert "django.core.exceptions.SynchronousOnlyOperation" in stored and views.__file__ in stored
