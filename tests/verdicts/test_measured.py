"""Which responses say something about the view (``verdicts.measured``), and the root route."""

from __future__ import annotations

import pytest

from async_audit.verdicts import judge_all, not_measured_reason, route_key, view_ran


def _trace(route, status=200, view_event=True, events=(), dropped=0):
    evs = (
        [{"kind": "view", "start_ms": 1.0, "end_ms": 2.0, "duration_ms": 1.0}] if view_event else []
    )
    return {
        "route": route, "view": "app.views.home", "view_is_async": True, "label": "GET /",
        "status": status, "wall_ms": 30.0, "cpu_ms": 1.0, "owner_cpu_ms": 1.0,
        "shared_thread": False, "summary": {"dropped_events": dropped},
        "events": evs + list(events),
    }  # fmt: skip


_BLOCKING = {
    "kind": "blocking", "start_ms": 1.0, "end_ms": 21.0, "duration_ms": 20.0, "on_loop": True,
    "thread": 1, "call": "time.sleep", "category": "sleep",
    "site": ["/srv/app/views.py", 3, "home"], "stack": [["/srv/app/views.py", 3, "home"]],
}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "kwargs", "reason"),
    [
        (200, {"ran": True}, None),
        (302, {"ran": True, "location": "/elsewhere/"},  # a decorator's, or the view's own
         "redirected to /elsewhere/: the page itself was not shown"),
        (302, {"ran": True, "location": "/done/", "method": "POST"}, None),  # a form saved
        (200, {"ran": False, "exception": "django.urls.exceptions.Resolver404"},
         "answered 200: no URL pattern matches this path (Django's DEBUG welcome page)"),
        (302, {"ran": True, "login": True}, "redirected to the login page"),  # a decorator's
        (301, {"ran": False, "location": "/docs/"}, "redirected to /docs/ before the view ran"),
        (500, {"ran": True, "exception": "builtins.ValueError"}, "500: the view raised ValueError"),
        (404, {"ran": False, "exception": "django.urls.exceptions.Resolver404"},
         "answered 404: no URL pattern matches this path"),
        (404, {"ran": True, "exception": "django.http.response.Http404"}, "answered 404 by the view (Http404)"),
        (400, {"ran": False, "exception": "django.core.exceptions.DisallowedHost"},
         "answered 400 before the view ran (DisallowedHost)"),
        (200, {"ran": False}, "answered 200 before the view ran (a middleware answered)"),
        (None, {"ran": False, "exception": "OSError"}, "no response: the application raised OSError"),
    ],
)  # fmt: skip
def test_only_responses_the_view_made_are_measured(status, kwargs, reason):
    assert not_measured_reason(status, **kwargs) == reason


def test_the_view_event_says_whether_the_view_ran_and_a_partial_trace_is_given_the_benefit():
    assert view_ran(_trace("a/"))
    assert not view_ran(_trace("a/", view_event=False))
    assert view_ran(_trace("a/", view_event=False, dropped=10))


def test_the_root_route_is_a_route_not_a_missing_one():
    assert route_key(_trace("")) == ""
    assert route_key(_trace(None)) == "app.views.home"
    (verdict,) = judge_all([_trace("", events=[_BLOCKING])])
    assert verdict.route == "" and verdict.verdict == "fix-first"
    assert [(f.code, f.route) for f in verdict.findings] == [("AA301", "")]


def test_an_error_response_adds_only_must_never_happen_findings():
    # A 500 after a blocking call: AA301 stands (the loop was blocked), no shape verdict.
    (verdict,) = judge_all([], unmeasured=[_trace("boom/", status=500, events=[_BLOCKING])])
    assert verdict.verdict == "fix-first" and verdict.figures["measured"] is False
    assert [f.code for f in verdict.findings] == ["AA301"]
    # Nothing that must never happen: no row at all.
    assert judge_all([], unmeasured=[_trace("boom/", status=500)]) == []


def test_a_stored_redirect_of_a_get_is_not_judged_and_one_after_a_post_is():
    from async_audit.verdicts import sample_reason

    get = {**_trace("secret/", status=302), "method": "GET"}
    post = {**_trace("save/", status=302), "method": "POST"}
    assert sample_reason(get) == "redirected: the page itself was not shown"
    assert sample_reason(post) is None
    assert sample_reason({**_trace("docs/", status=301, view_event=False), "method": "GET"}) == (
        "redirected before the view ran"
    )
