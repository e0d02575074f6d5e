from __future__ import annotations

import json

from async_audit.inventory import audit_static

M = "tests.inventory.middleware."


def test_the_default_project_audit_lists_chain_views_and_findings():
    audit = audit_static()
    assert [m.path for m in audit.middleware][:1] == [
        "django.middleware.security.SecurityMiddleware"
    ]
    assert [v.route for v in audit.views] == ["sync/", "async/", "template/"]
    assert audit.chain is not None and audit.chain.per_request_hops(True) == 15
    assert audit.errors == []
    assert {f.code for f in audit.findings} == {"AA102", "AA103"}


def test_the_audit_is_json_serialisable_in_the_contract_shape():
    data = json.loads(json.dumps(audit_static().to_dict()))
    assert data["middleware"][3]["hops_per_request"] == 3
    assert data["views"][1] == {
        "route": "async/",
        "name": "async",
        "view": "tests.inventory.views.hello_async",
        "is_async": True,
        "takes_args": False,
        "kind": "function",
        "project": True,
        "decorators": [],
    }
    assert data["chain"]["per_request_hops"] == {"async_view": 15, "sync_view": 16}
    assert data["environment"]["server"] == "asgi"
    assert {"code", "severity", "target", "message", "evidence"} <= set(data["findings"][0])


def test_broken_settings_give_findings_naming_each_culprit_never_a_traceback(settings):
    settings.MIDDLEWARE = [
        "django.middleware.common.CommonMiddleware",
        "tests.inventory.broken_middleware.Middleware",
        "no_such_package.Middleware",
        M + "Explodes",
    ]
    settings.ROOT_URLCONF = "tests.inventory.urls_broken"
    audit = audit_static()
    aa109 = [(f.target, f.evidence.get("error", "")) for f in audit.findings if f.code == "AA109"]
    assert [t for t, _ in aa109] == [
        "tests.inventory.broken_middleware.Middleware",
        "no_such_package.Middleware",
        M + "Explodes",
        "tests.inventory.urls_broken",
    ]
    assert "No module named 'no_such_package'" in aa109[1][1]
    assert "views_missing_dependency.py" in aa109[3][1]
    assert audit.middleware[0].hops_per_request == 2  # the healthy member is still analysed


def test_a_bug_in_one_part_is_reported_and_the_other_parts_still_run(monkeypatch):
    import async_audit.inventory as inventory

    def broken(**kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(inventory, "analyse_chain", broken)
    audit = audit_static()
    assert audit.middleware == []
    assert len(audit.errors) == 1
    assert audit.errors[0].startswith("middleware chain analysis failed: KeyError: 'boom'")
    assert [v.route for v in audit.views] == ["sync/", "async/", "template/"]
