"""A developer's settings: DEBUG on, django-debug-toolbar shown to 127.0.0.1. The toolbar's
work is not the view's, and its middleware's own hop is in the chain audit's count."""

from __future__ import annotations

import json

import jsonschema

from tests.command.test_command import SCHEMA, manage


def test_probes_measure_the_view_not_the_toolbar_and_agree_with_the_chain_audit():
    status, out, err = manage(
        "--no-samples", "--probe", "/sync/", "--probe", "/async/", "--format", "json",
        "--fail-on", "error", settings="tests.command.settings_toolbar",
    )  # fmt: skip
    assert status == 0, err  # its staticfiles scan on the loop had read as the view's AA301
    report = json.loads(out)
    jsonschema.validate(report, SCHEMA)
    assert not [f for f in report["findings"] if "debug_toolbar" in json.dumps(f)]
    probes = {q["path"]: q for q in report["probes"]}
    assert probes["/sync/"]["blocking_calls"] == 0 and probes["/async/"]["blocking_calls"] == 0
    # The toolbar's middleware asks its sync SHOW_TOOLBAR_CALLBACK in sync_to_async on every
    # request: one hop of its own, counted by the chain audit and measured by the probes.
    (toolbar,) = [m for m in report["middleware"] if m["path"].startswith("debug_toolbar.")]
    assert toolbar["hops_per_request"] == 1
    assert toolbar["hop_sources"] == {"SHOW_TOOLBAR_CALLBACK": 1}
    per = report["chain"]["per_request_hops"]
    assert (
        (probes["/async/"]["hops"], probes["/sync/"]["hops"])
        == (per["async_view"], per["sync_view"])
        == (16, 17)
    )
    assert any("django-debug-toolbar hidden" in n for n in report["notes"])
