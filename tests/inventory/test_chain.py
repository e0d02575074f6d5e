from __future__ import annotations

import pytest
from django.test import override_settings

from async_audit.inventory.chain import analyse_chain, chain_findings

DEFAULT_HOPS = {
    "django.middleware.security.SecurityMiddleware": 2,
    "django.contrib.sessions.middleware.SessionMiddleware": 2,
    "django.middleware.common.CommonMiddleware": 2,
    "django.middleware.csrf.CsrfViewMiddleware": 3,
    "django.contrib.auth.middleware.AuthenticationMiddleware": 1,
    "django.contrib.messages.middleware.MessageMiddleware": 2,
    "django.middleware.clickjacking.XFrameOptionsMiddleware": 1,
}

M = "tests.inventory.middleware."


def _codes(report):
    return sorted((f.code, f.target.removeprefix(M)) for f in chain_findings(report))


class TestDefaultStartprojectChain:
    def test_every_member_runs_async_with_the_measured_hops(self):
        report = analyse_chain()
        assert {m.path: m.hops_per_request for m in report.members} == DEFAULT_HOPS
        assert all(m.mode_under_asgi == "async" for m in report.members)
        assert report.chain_hops == 13
        assert report.adapters == []

    def test_csrf_costs_a_hop_for_its_sync_process_view(self):
        csrf = analyse_chain().members[3]
        assert csrf.hooks == ["process_request", "process_view", "process_response"]
        assert csrf.hop_sources == {"process_request": 1, "process_response": 1, "process_view": 1}

    def test_per_request_totals_add_the_handler_and_the_view(self):
        report = analyse_chain()
        assert report.handler_hops == 2
        assert report.per_request_hops(view_is_async=True) == 15
        assert report.per_request_hops(view_is_async=False) == 16

    def test_the_replayed_chain_matches_the_one_django_builds(self):
        report = analyse_chain()
        assert report.verified, report.errors

    def test_async_view_request_makes_exactly_the_predicted_hops(self, count_hops):
        assert count_hops("/async/")["total"] == analyse_chain().per_request_hops(True) == 15

    def test_sync_view_request_makes_exactly_the_predicted_hops(self, count_hops):
        assert count_hops("/sync/")["total"] == analyse_chain().per_request_hops(False) == 16

    def test_a_template_response_adds_its_render_hop(self, count_hops):
        predicted = analyse_chain().per_request_hops(False, template_response=True)
        assert count_hops("/template/")["total"] == predicted == 17

    def test_under_wsgi_every_member_runs_sync_without_hops(self):
        report = analyse_chain()
        assert {m.mode_under_wsgi for m in report.members} == {"sync"}
        assert sum(m.hops_per_request_under_wsgi for m in report.members) == 0
        assert report.wsgi_adapters == []

    def test_findings_flag_each_mixin_and_csrfs_process_view(self):
        findings = chain_findings(analyse_chain())
        assert [f.target for f in findings if f.code == "AA102"] == list(DEFAULT_HOPS)
        assert [(f.code, f.target) for f in findings if f.code != "AA102"] == [
            ("AA103", "django.middleware.csrf.CsrfViewMiddleware")
        ]
        assert not [f for f in findings if f.code == "AA101"]

    def test_json_entry_has_the_contract_keys(self):
        entry = analyse_chain().members[0].to_dict()
        assert {
            "index": 0,
            "path": "django.middleware.security.SecurityMiddleware",
            "sync_capable": True,
            "async_capable": True,
            "mode_under_asgi": "async",
            "hops_per_request": 2,
            "hooks": ["process_request", "process_response"],
        }.items() <= entry.items()


DEEP_SYNC_ONLY = [
    M + "DualMode",
    M + "RequestHook",
    M + "OtherDualMode",
    M + "SyncOnly",
    M + "RequestHook",
    M + "DualMode",
]


class TestSyncOnlyMemberDeepInTheChain:
    @pytest.fixture(autouse=True)
    def _deep_sync_only(self, settings):
        settings.MIDDLEWARE = DEEP_SYNC_ONLY

    def test_every_member_outside_it_runs_sync_and_those_inside_stay_async(self):
        report = analyse_chain()
        assert [m.mode_under_asgi for m in report.members] == [
            "sync", "sync", "sync", "sync", "async", "async",
        ]  # fmt: skip

    def test_it_names_whom_it_drags(self):
        report = analyse_chain()
        sync_only = report.members[3]
        assert sync_only.drags == [M + "DualMode", M + "RequestHook", M + "OtherDualMode"]
        assert [m.forced_sync_by for m in report.members] == [
            M + "SyncOnly", M + "SyncOnly", M + "SyncOnly", None, None, None,
        ]  # fmt: skip

    def test_adapters_sit_at_the_top_and_below_the_sync_only_member(self):
        report = analyse_chain()
        assert report.adapters == [
            {"kind": "sync_to_async", "outer": "ASGIHandler", "inner": M + "DualMode"},
            {"kind": "async_to_sync", "outer": M + "SyncOnly", "inner": M + "RequestHook"},
        ]

    def test_a_dragged_mixin_costs_no_hook_hop_but_the_inner_one_does(self):
        report = analyse_chain()
        assert [m.hops_per_request for m in report.members] == [0, 0, 0, 1, 1, 0]
        assert report.chain_hops == 3  # top adapter + async_to_sync + inner RequestHook

    def test_the_replayed_chain_matches_the_one_django_builds(self):
        assert analyse_chain().verified

    @pytest.mark.parametrize(("path", "is_async"), [("/async/", True), ("/sync/", False)])
    def test_per_request_hops_match_a_direct_count(self, count_hops, path, is_async):
        assert count_hops(path)["total"] == analyse_chain().per_request_hops(is_async)

    def test_the_direct_count_sees_one_async_to_sync(self, count_hops):
        assert count_hops("/async/")["async_to_sync"] == 1

    def test_aa101_gives_the_dragged_members_as_evidence(self):
        (finding,) = [f for f in chain_findings(analyse_chain()) if f.code == "AA101"]
        assert finding.target == M + "SyncOnly"
        assert finding.evidence["drags"] == [M + "DualMode", M + "RequestHook", M + "OtherDualMode"]
        assert "sync_capable = async_capable = True" in finding.message

    def test_only_the_mixin_that_still_runs_async_gets_aa102(self):
        findings = chain_findings(analyse_chain())
        assert [f.evidence["index"] for f in findings if f.code == "AA102"] == [4]

    def test_under_wsgi_nothing_is_adapted(self):
        report = analyse_chain()
        assert report.wsgi_adapters == []
        assert {m.mode_under_wsgi for m in report.members} == {"sync"}


class TestMemberShapes:
    @override_settings(MIDDLEWARE=[M + "DualMode", M + "sync_function", M + "DualMode"])
    def test_function_style_middleware_without_flags_is_sync_only(self, count_hops):
        report = analyse_chain()
        assert [m.mode_under_asgi for m in report.members] == ["sync", "sync", "async"]
        assert [m.kind for m in report.members] == ["class", "function", "class"]
        assert report.members[1].drags == [M + "DualMode"]
        assert report.verified  # the walk finds get_response in the closure
        assert count_hops("/async/")["total"] == report.per_request_hops(True) == 4

    @override_settings(MIDDLEWARE=[M + "RequestHook", M + "dual_function"])
    def test_function_style_middleware_marked_sync_and_async_runs_async(self, count_hops):
        report = analyse_chain()
        assert [m.mode_under_asgi for m in report.members] == ["async", "async"]
        assert report.verified
        assert count_hops("/async/")["total"] == report.per_request_hops(True) == 3

    @override_settings(MIDDLEWARE=[M + "RequestHook", M + "Unused", M + "SyncOnly"])
    def test_middleware_not_used_is_left_out_of_the_chain(self, count_hops):
        report = analyse_chain()
        assert [m.mode_under_asgi for m in report.members] == ["sync", "unused", "sync"]
        assert report.members[2].drags == [M + "RequestHook"]
        assert report.verified
        assert not [f for f in chain_findings(report) if f.target == M + "Unused"]
        assert count_hops("/sync/")["total"] == report.per_request_hops(False) == 5

    @override_settings(MIDDLEWARE=[M + "OwnAcall", M + "RequestHook"])
    def test_a_mixin_with_its_own_acall_costs_no_hook_hops(self, count_hops):
        report = analyse_chain()
        assert [m.hops_per_request for m in report.members] == [0, 1]
        assert [m.kind for m in report.members] == ["class", "mixin"]
        assert count_hops("/async/")["total"] == report.per_request_hops(True) == 3

    @override_settings(MIDDLEWARE=[M + "RequestHook", M + "AsyncOnly", M + "SyncOnly"])
    def test_an_async_only_member_stops_the_drag_and_adds_its_own_adapter(self, count_hops):
        report = analyse_chain()
        assert [m.mode_under_asgi for m in report.members] == ["async", "async", "sync"]
        assert report.members[2].drags == []
        assert report.adapters == [
            {"kind": "sync_to_async", "outer": M + "AsyncOnly", "inner": M + "SyncOnly"},
            {"kind": "async_to_sync", "outer": M + "SyncOnly", "inner": "view dispatch"},
        ]
        assert report.verified
        assert count_hops("/sync/")["total"] == report.per_request_hops(False) == 6

    @override_settings(MIDDLEWARE=[M + "AsyncOnly", M + "RequestHook"])
    def test_under_wsgi_an_async_only_member_is_adapted_both_ways(self):
        report = analyse_chain()
        assert [m.mode_under_wsgi for m in report.members] == ["async", "sync"]
        assert report.wsgi_adapters == [
            {"kind": "async_to_sync", "outer": "WSGIHandler", "inner": M + "AsyncOnly"},
            {"kind": "sync_to_async", "outer": M + "AsyncOnly", "inner": M + "RequestHook"},
        ]

    @override_settings(MIDDLEWARE=[M + "ViewHook", M + "AsyncViewHook", M + "ExceptionHook"])
    def test_only_sync_view_hooks_cost_a_hop(self, count_hops):
        report = analyse_chain()
        assert [m.hop_sources for m in report.members] == [{"process_view": 1}, {}, {}]
        assert report.members[2].conditional_hops == {
            "process_exception": "only when a view raises"
        }
        assert count_hops("/async/")["total"] == report.per_request_hops(True) == 3
        assert _codes(report) == [("AA103", "ExceptionHook"), ("AA103", "ViewHook")]

    @override_settings(MIDDLEWARE=[M + "TemplateHook", M + "RequestHook", M + "TemplateHook"])
    def test_each_sync_process_template_response_costs_a_hop_per_template_response(
        self, count_hops
    ):
        report = analyse_chain()
        assert report.members[0].conditional_hops == {
            "process_template_response": "per TemplateResponse"
        }
        predicted = report.per_request_hops(False, template_response=True)
        # chain 1 (RequestHook) + handler 2 + sync view 1 + render 1 + two hooks 2
        assert count_hops("/template/")["total"] == predicted == 7

    @override_settings(MIDDLEWARE=[M + "AsyncHookInMixin", M + "NoMode"])
    def test_an_async_hook_in_a_mixin_and_no_mode_at_all_are_errors(self):
        findings = chain_findings(analyse_chain())
        assert [(f.code, f.severity, f.target) for f in findings] == [
            ("AA106", "error", M + "AsyncHookInMixin"),
            ("AA106", "error", M + "NoMode"),
        ]
        assert "TypeError" in findings[0].message

    @override_settings(MIDDLEWARE=[M + "RequestHook", M + "ForgetsToMark"])
    def test_an_async_member_that_is_not_a_coroutine_function_is_an_error(self):
        findings = {f.target: f for f in chain_findings(analyse_chain()) if f.code == "AA106"}
        assert "markcoroutinefunction" in findings[M + "ForgetsToMark"].message
        # The mixin above it is wired async but handed a sync callable: a knock-on error.
        assert "member below" in findings[M + "RequestHook"].message


class TestBrokenMembers:
    @override_settings(
        MIDDLEWARE=[
            "django.middleware.common.CommonMiddleware",
            "tests.inventory.broken_middleware.Middleware",
            "tests.inventory.middleware.DoesNotExist",
            M + "Explodes",
        ]
    )
    def test_each_broken_member_is_named_and_the_rest_still_analysed(self):
        report = analyse_chain()
        assert [m.mode_under_asgi for m in report.members] == ["async", "error", "error", "error"]
        assert report.members[0].hops_per_request == 2
        assert not report.verified
        findings = chain_findings(report)
        aa109 = {f.target: f.message for f in findings if f.code == "AA109"}
        assert list(aa109) == [
            "tests.inventory.broken_middleware.Middleware",
            "tests.inventory.middleware.DoesNotExist",
            M + "Explodes",
        ]
        assert "not_installed_dependency" in aa109["tests.inventory.broken_middleware.Middleware"]
        assert "FOO_API_KEY" in aa109[M + "Explodes"]


class TestAA101AdviceFitsThePlace:
    @override_settings(MIDDLEWARE=[M + "SyncOnly", M + "RequestHook"])
    def test_a_sync_only_member_already_first_is_not_told_to_move_to_the_top(self):
        (finding,) = [f for f in chain_findings(analyse_chain()) if f.code == "AA101"]
        assert finding.evidence["index"] == 0
        assert "move it to the top" not in finding.message
        assert "already first in MIDDLEWARE" in finding.message
        assert "sync_capable = async_capable = True" in finding.message

    @override_settings(MIDDLEWARE=[M + "RequestHook", M + "SyncOnly"])
    def test_a_sync_only_member_that_drags_others_is_told_it_can_move_up(self):
        (finding,) = [f for f in chain_findings(analyse_chain()) if f.code == "AA101"]
        assert finding.evidence["drags"] == [M + "RequestHook"]
        assert "move it to the top of MIDDLEWARE" in finding.message
