from __future__ import annotations

import pytest

from async_audit.inventory.scan import scan_views
from async_audit.inventory.views import inventory_views

V = "tests.inventory.views."


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = "tests.inventory.urls"


def _hits(route):
    views = [v for v in inventory_views().views if v.route == route]
    return [(f.code, f.evidence["what"], f.evidence["call"]) for f in scan_views(views)]


def test_a_clean_async_view_has_no_findings():
    # async ORM, async for, sync_to_async around time.sleep and around a lambda
    assert _hits("clean/") == []


def test_blocking_calls_are_found_by_identity_whatever_their_local_name():
    assert _hits("blocking/") == [
        ("AA201", "time.sleep", "time.sleep(0.01)"),
        ("AA201", "time.sleep", "nap(0.01)"),
        ("AA201", "open", "open(__file__)"),
        ("AA201", "subprocess.run", 'subprocess.run(["true"], check=False)'),
    ]


def test_sync_orm_use_is_found_with_its_call_text():
    assert _hits("sync-orm/") == [
        ("AA202", "QuerySet.get", "User.objects.get(pk=1)"),
        ("AA202", "QuerySet.count", "User.objects.filter(is_active=True).count()"),
        ("AA202", "QuerySet evaluated", "active"),
        ("AA202", "QuerySet evaluated", 'User.objects.values_list("username", flat=True)'),
        ("AA202", "Model.save", "fresh.save()"),
        ("AA202", "Model.delete", "fetched.delete()"),
        ("AA202", "request.user", "request.user.is_authenticated"),
    ]


def test_findings_carry_file_line_route_and_view():
    views = [v for v in inventory_views().views if v.route == "sync-orm/"]
    finding = scan_views(views)[0]
    assert finding.severity == "error"
    assert (finding.target, finding.view, finding.route) == (
        V + "sync_orm",
        V + "sync_orm",
        "sync-orm/",
    )
    assert finding.evidence["file"].endswith("tests/inventory/views.py")
    assert finding.evidence["line"] == 46
    assert "aget" in finding.message


def test_project_functions_called_from_the_view_are_followed():
    views = [v for v in inventory_views().views if v.route == "helpers/"]
    evidence = [(f.code, f.evidence["function"], f.evidence["via"]) for f in scan_views(views)]
    assert evidence == [
        ("AA202", "tests.inventory.helpers.count_users", [V + "calls_helpers", V + "local_helper"]),
        ("AA201", "tests.inventory.helpers.fetch_remote", [V + "calls_helpers"]),
    ]  # and helpers.slow_report, only passed to sync_to_async, is not flagged


def test_class_based_async_handlers_and_their_methods_are_scanned():
    assert _hits("async-page/") == [
        ("AA202", "request.user", "self.request.user.is_staff"),
        ("AA202", "QuerySet.count", "User.objects.count()"),
    ]


def test_decorated_async_views_are_scanned_through_their_wrappers():
    assert _hits("decorated/") == [("AA201", "time.sleep", "time.sleep(0)")]


def test_sync_views_and_third_party_views_are_not_scanned(settings):
    settings.ROOT_URLCONF = "tests.inventory.urls_with_admin"
    targets = {f.target for f in scan_views(inventory_views().views)}
    assert targets == {
        V + "blocking",
        V + "sync_orm",
        V + "calls_helpers",
        V + "decorated",
        V + "AsyncPage",
    }


def test_the_database_session_backend_makes_session_access_sync_orm(settings, tmp_path):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    module = tmp_path / "session_views.py"
    module.write_text(
        "from django.http import HttpResponse\n\n"
        "async def view(request):\n"
        "    return HttpResponse(request.session.get('k'))\n"
    )
    import importlib.util

    spec = importlib.util.spec_from_file_location("session_views", module)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from async_audit.inventory.scan import scan_function

    hits = scan_function(mod.view, roots=(tmp_path,))
    assert [(h.code, h.what, h.call) for h in hits] == [
        ("AA202", "request.session", "request.session.get")
    ]
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    assert scan_function(mod.view, roots=(tmp_path,)) == []
