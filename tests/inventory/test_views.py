from __future__ import annotations

import asyncio
import gc
import sys
import types

import pytest

from async_audit.inventory.views import inventory_views, view_path
from tests.inventory import views
from tests.inventory.conftest import _get

V = "tests.inventory.views."


def wrapper_name(qualified: str) -> str:
    """How a functools.wraps wrapper is named: by its code's qualname (Python 3.11+), else,
    as 3.10 has no co_qualname and wraps overwrote __qualname__, by module and name."""
    if sys.version_info >= (3, 11) or ".<locals>." not in qualified:
        return qualified
    module = qualified.split(".<locals>.", 1)[0].rsplit(".", 1)[0]
    return f"{module}.{qualified.rsplit('.', 1)[1]}"


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = "tests.inventory.urls"


def _by_route():
    return {v.route: v for v in inventory_views().views}


class TestRoutesAndNames:
    def test_every_pattern_is_listed_once_with_its_route_as_django_spells_it(self):
        routes = [v.route for v in inventory_views().views]
        assert len(routes) == 18
        assert "api/items/<int:pk>/" in routes
        assert r"api/legacy/(?P<slug>[-\w]+)/$" in routes  # re_path inside an include
        assert r"^re/(\d+)/$" in routes
        assert "outer/deep/x/" in routes

    def test_routes_match_resolver_match_route_at_request_time(self):
        from django.urls import resolve

        by_route = _by_route()
        for path in ("/api/items/7/", "/api/legacy/old-item/", "/re/12/", "/en-us/about/"):
            match = resolve(path)
            assert match.route in by_route
            assert by_route[match.route].view == match._func_path

    def test_i18n_patterns_get_the_language_prefix(self):
        assert _by_route()["en-us/about/"].name == "about"

    def test_names_carry_every_namespace(self):
        by_route = _by_route()
        assert by_route["api/items/<int:pk>/"].name == "api:item-detail"
        assert by_route["outer/deep/x/"].name == "outer:deep:x"
        assert by_route["blocking/"].name is None

    def test_takes_args_follows_converters_and_regex_groups(self):
        by_route = _by_route()
        assert by_route["api/items/<int:pk>/"].takes_args
        assert by_route[r"^re/(\d+)/$"].takes_args
        assert not by_route["plain/"].takes_args

    def test_json_entry_has_the_contract_keys(self):
        entry = _by_route()["api/items/<int:pk>/"].to_dict()
        assert {
            "route": "api/items/<int:pk>/",
            "name": "api:item-detail",
            "view": V + "with_arg",
            "is_async": True,
        }.items() <= entry.items()


class TestViewPathsAndModes:
    def test_class_based_views_are_named_by_their_class(self):
        by_route = _by_route()
        assert by_route["sync-page/"].view == V + "SyncPage"
        assert by_route["sync-page/"].kind == "class"
        assert by_route["instance/"].view == V + "Callable_"

    def test_decorated_views_are_named_by_the_view_and_list_their_wrappers(self):
        entry = _by_route()["decorated/"]
        assert entry.view == V + "decorated"
        assert entry.decorators == [
            wrapper_name(V + "mode_aware.<locals>.awrapper"),
            wrapper_name(
                "django.contrib.auth.decorators.user_passes_test.<locals>.decorator.<locals>"
                "._view_wrapper"
            ),
        ]

    def test_is_async_is_what_django_tests_before_hopping(self):
        by_route = _by_route()
        assert {r: by_route[r].is_async for r in ("plain/", "clean/", "decorated/")} == {
            "plain/": False,
            "clean/": True,
            "decorated/": True,
        }
        assert by_route["async-page/"].is_async  # CBV with async handlers
        assert not by_route["sync-page/"].is_async
        assert by_route["marked/"].is_async  # markcoroutinefunction on a sync def
        assert not by_route["hidden/"].is_async  # the sync wrapper wins

    def test_view_path_equals_django_resolver_match_func_path(self):
        from django.urls import resolve

        for path in ("/plain/", "/sync-page/", "/decorated/", "/instance/"):
            match = resolve(path)
            assert view_path(match.func) == match._func_path

    def test_project_views_are_told_apart_from_django_s(self, settings):
        settings.ROOT_URLCONF = "tests.inventory.urls_with_admin"
        entries = inventory_views().views
        assert {v.project for v in entries if v.view.startswith("django.")} == {False}
        assert {v.project for v in entries if v.view.startswith("tests.")} == {True}


def _findings(code):
    return {f.route: f for f in inventory_views().findings if f.code == code}


class TestDecoratorsThatChangeTheMode:
    def test_a_sync_wrapper_hiding_an_async_view_is_aa203(self):
        finding = _findings("AA203")["hidden/"]
        assert finding.severity == "error"
        assert finding.target == finding.view == V + "hidden"
        assert finding.evidence["wrapper"] == wrapper_name(V + "hides_async.<locals>.wrapper")
        assert (finding.evidence["wrapper_mode"], finding.evidence["wrapped_mode"]) == (
            "sync",
            "async",
        )

    def test_and_django_really_fails_that_request(self, caplog):
        assert asyncio.run(_get("/hidden/")) == 500
        (record,) = [r for r in caplog.records if r.name == "django.request"]
        assert record.exc_info is not None
        assert "unawaited coroutine" in str(record.exc_info[1])
        # Close the coroutine Django never awaited, or its RuntimeWarning fires at some later
        # garbage collection, outside this test.
        # type() rather than isinstance(): a lazy object among them would evaluate itself.
        for obj in gc.get_objects():
            if type(obj) is types.CoroutineType and obj.__name__ == "hidden":
                obj.close()

    def test_an_async_wrapper_around_a_sync_view_is_aa203(self):
        finding = _findings("AA203")["loop-blocker/"]
        assert finding.evidence["wrapper"] == wrapper_name(V + "blocks_loop.<locals>.wrapper")
        assert "event loop" in finding.message

    def test_async_handlers_behind_a_sync_dispatch_are_aa203(self):
        finding = _findings("AA203")["api/broken/"]
        assert finding.evidence["dispatch"] == V + "SyncDispatchAPI.dispatch"

    def test_mode_aware_decorators_are_not_flagged(self):
        assert set(_findings("AA203")) == {"hidden/", "loop-blocker/", "api/broken/"}


class TestSyncOnlyViewClasses:
    def test_a_project_class_with_sync_handlers_is_aa204_info(self):
        finding = _findings("AA204")["sync-page/"]
        assert finding.severity == "info"
        assert finding.evidence == {
            "handlers": ["get", "post"],
            "sync_dispatch": False,
            "hops_per_request": 1,
            "bases": ["django.views.generic.base.View", "builtins.object"],
        }
        assert "async def" in finding.message

    def test_a_class_with_its_own_sync_dispatch_says_async_handlers_are_no_option(self):
        finding = _findings("AA204")[r"api/legacy/(?P<slug>[-\w]+)/$"]
        assert finding.evidence["sync_dispatch"] is True
        assert "not an option" in finding.message

    def test_async_classes_and_third_party_classes_are_not_flagged(self, settings):
        settings.ROOT_URLCONF = "tests.inventory.urls_with_admin"
        flagged = {f.view for f in inventory_views().findings if f.code == "AA204"}
        assert flagged == {V + "SyncPage", V + "SyncDispatchAPI"}


class TestBrokenURLconfs:
    def test_a_view_module_that_fails_to_import_is_aa109_naming_its_file(self, settings):
        settings.ROOT_URLCONF = "tests.inventory.urls_broken"
        inventory = inventory_views()
        assert inventory.views == []
        (finding,) = inventory.findings
        assert (finding.code, finding.target) == ("AA109", "tests.inventory.urls_broken")
        assert "stripe_sdk_not_installed" in finding.message
        assert "views_missing_dependency.py, line 3" in finding.message

    def test_a_failure_inside_django_names_the_user_line_that_caused_it(self, settings):
        settings.ROOT_URLCONF = "tests.inventory.urls_i18n_included"
        (finding,) = inventory_views().findings
        assert "i18n_patterns in an included URLconf" in finding.message
        assert "urls_i18n_included.py, line 8" in finding.message

    def test_a_root_urlconf_that_does_not_import_is_aa109(self, settings):
        settings.ROOT_URLCONF = "tests.inventory.no_such_urls"
        inventory = inventory_views()
        assert inventory.views == []
        assert [(f.code, f.target) for f in inventory.findings] == [
            ("AA109", "tests.inventory.no_such_urls")
        ]


def test_the_test_views_module_is_importable_without_side_effects():
    assert views.plain.__name__ == "plain"


class TestSyncDispatchAdviceNamesItsOwner:
    @pytest.fixture(autouse=True)
    def _django_cbv_urls(self, settings):
        settings.ROOT_URLCONF = "tests.inventory.urls_django_cbv"

    def test_a_django_mixins_dispatch_is_named_and_drf_is_not_cited(self):
        finding = _findings("AA204")["members/"]
        assert "django.contrib.auth.mixins.LoginRequiredMixin.dispatch" in finding.message
        assert "REST framework" not in finding.message and "APIView" not in finding.message

    def test_a_django_generic_views_own_sync_dispatch_does_not_cite_drf(self):
        finding = _findings("AA204")["login/"]
        assert "comes from Django" in finding.message
        assert "REST framework" not in finding.message and "adrf" not in finding.message

    def test_a_projects_own_sync_dispatch_is_called_its_own(self):
        finding = _findings("AA204")["legacy/"]
        assert f"Its own dispatch ({V}SyncDispatchAPI.dispatch)" in finding.message
        assert "REST framework" not in finding.message
