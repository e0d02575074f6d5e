"""``manage.py async_audit`` on a small project with known findings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from django.core.management import CommandError, call_command

import async_audit
from tests.command.project import EXPECTED_RUNTIME, EXPECTED_STATIC
from tests.conftest import ROOT

SCHEMA = json.loads((Path(async_audit.__file__).parent / "report" / "schema.json").read_text())


def manage(
    *args: str, upstream: str | None = None, settings: str = "tests.command.settings", **env: str
):
    """The command in a subprocess, as a user or CI runs it: (exit status, stdout, stderr)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": settings, **env}
    if upstream:
        full_env["AA_UPSTREAM"] = upstream
    proc = subprocess.run(
        [sys.executable, "-m", "django", "async_audit", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr


def codes(report) -> set[tuple[str, str]]:
    return {(f["code"], f["target"]) for f in report["findings"]}


@pytest.fixture(scope="module")
def static_report():
    status, out, err = manage("--format", "json", "--no-samples")
    assert status == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def probed_report(upstream):
    status, out, err = manage("--format", "json", "--no-samples", "--probe-all", upstream=upstream)
    assert status == 0, err
    return json.loads(out)


def test_the_static_audit_finds_exactly_the_expected_findings(static_report):
    assert codes(static_report) == EXPECTED_STATIC


def test_probing_every_route_adds_exactly_the_runtime_findings(probed_report):
    assert codes(probed_report) == EXPECTED_STATIC | EXPECTED_RUNTIME


@pytest.mark.parametrize("fixture", ["static_report", "probed_report"])
def test_the_json_report_validates_against_the_documented_schema(request, fixture):
    jsonschema.validate(request.getfixturevalue(fixture), SCHEMA)


def test_probes_are_in_order_with_their_figures_and_errors(probed_report):
    probes = {p["path"]: p for p in probed_report["probes"]}
    assert list(probes) == ["/fanout/", "/cpu/", "/blocking/", "/sync-orm/", "/fine/", "/offsite/"]
    assert probes["/fanout/"]["status"] == 200 and probes["/fanout/"]["io_ms"] >= 100
    assert (
        probes["/fanout/"]["route"] == "fanout/"
        and probes["/fanout/"]["view"] == "tests.command.project.fanout"
    )
    assert probes["/sync-orm/"]["status"] == 500
    assert probes["/sync-orm/"]["error"].startswith(
        "django.core.exceptions.SynchronousOnlyOperation"
    )
    assert probes["/blocking/"]["blocking_calls"] == 1


def test_a_probe_never_reaches_the_network(probed_report):
    # The refusal itself (ConnectionRefusedError naming --allow-network, on every path) is
    # tested in tests/test_probe.py: the report keeps the exception's type and site only.
    offsite = next(p for p in probed_report["probes"] if p["path"] == "/offsite/")
    assert offsite["status"] == 500 and offsite["measured"] is False
    assert offsite["error"].startswith("urllib.error.URLError at ")
    assert offsite["not_measured"] == "500: the view raised URLError"


def test_a_path_no_pattern_matches_is_probed_and_reported_not_refused():
    status, out, err = manage("--no-samples", "--format", "json", "--probe", "/no/such/page/")
    assert status == 0, err
    (probe,) = json.loads(out)["probes"]
    assert probe["status"] == 404
    assert probe["not_measured"] == "answered 404: no URL pattern matches this path"


def test_the_ranking_answers_what_to_fix_and_what_to_convert_first(probed_report):
    summary = probed_report["summary"]
    assert {f["code"] for f in summary["fix_first"]} == {"AA202", "AA301", "AA308"}
    assert [r["route"] for r in summary["convert_first"]] == ["fanout/"]
    verdicts = {r["route"]: r["verdict"] for r in probed_report["routes"]}
    assert verdicts["fanout/"] == "async-candidate" and verdicts["cpu/"] == "keep-sync"
    assert (
        verdicts["blocking/"] == verdicts["sync-orm/"] == "fix-first" and verdicts["fine/"] == "ok"
    )
    assert probed_report["routes"][0]["verdict"] == "fix-first"


def test_fail_on_warning_exits_1_when_a_warning_exists():
    status, _, err = manage("--no-samples", "--fail-on", "warning")
    assert status == 1
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith("finding(s) at warning level or above (--fail-on warning)")
    )


def test_fail_on_exits_0_when_nothing_reaches_the_level():
    status, out, _ = manage(
        "--no-samples", "--fail-on", "error", "--route", "fine/", "--probe", "/fine/"
    )
    assert status == 0, out


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--format", "yaml"], "invalid choice: 'yaml'"),
        (["--since", "yesterday"], "--since 'yesterday'"),
        (["--probe", "fine/"], "give a path starting with '/'"),
        (["--route", "nothing/*"], "--route 'nothing/*': no URL pattern matches"),
        (["--database", "nope"], "database alias 'nope' is not in DATABASES"),
    ],
)
def test_bad_usage_exits_2_with_one_line(args, reason):
    status, out, err = manage(*args)
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert reason in err
    assert out == ""


def test_an_unreachable_database_exits_2_with_one_line(tmp_path):
    status, _, err = manage(settings="tests.command.settings_unreachable")
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "cannot read samples from database 'default'" in err and "--no-samples" in err


def test_output_writes_the_file_and_nothing_to_stdout(tmp_path):
    target = tmp_path / "report.md"
    status, out, _ = manage("--no-samples", "--format", "markdown", "--output", str(target))
    assert status == 0 and out == ""
    assert target.read_text().startswith("## django-async-audit")


@pytest.mark.django_db
def test_stored_samples_are_read_filtered_and_corrupt_rows_counted(settings, capsys):
    from datetime import timedelta

    from django.utils import timezone

    from async_audit.models import Sample
    from tests.command.samples import sample_trace

    settings.ROOT_URLCONF = "tests.command.project"
    now = timezone.now()
    for i in range(6):
        Sample.objects.create(created=now, route="fanout/", view="tests.command.project.fanout", wall_ms=150,
                              data=sample_trace(wall_ms=150 + i))  # fmt: skip
    Sample.objects.create(
        created=now - timedelta(days=30), route="fanout/", view="v", wall_ms=1, data=sample_trace(1)
    )
    Sample.objects.create(
        created=now, route="fanout/", view="v", wall_ms=1, data={"not": "a trace"}
    )
    Sample.objects.create(
        created=now, route="cpu/", view="tests.command.project.cpu", wall_ms=5, data=sample_trace(5)
    )
    call_command("async_audit", "--format", "json", "--since", "7d", "--route", "fanout/")
    report = json.loads(capsys.readouterr().out)
    (route,) = report["routes"]
    assert route["route"] == "fanout/" and route["samples"] == 6
    assert route["verdict"] == "async-candidate"
    assert any(
        n.startswith("1 stored sample(s) skipped: not a trace in the expected shape")
        for n in report["notes"]
    )
    assert report["summary"]["samples"] == 6


def test_call_command_raises_command_error_with_exit_2_for_bad_usage():
    with pytest.raises(CommandError) as excinfo:
        call_command("async_audit", "--since", "soon")
    assert excinfo.value.returncode == 2


def test_a_progress_line_shows_on_a_terminal_only():
    import pty

    master, slave = pty.openpty()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.command.settings",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "django", "async_audit", "--no-samples", "--format", "json",
         "--probe", "/fine/", "--probe", "/cpu/"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=slave, timeout=120,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0
    assert b"probing 1/2 /fine/" in seen and b"probing 2/2 /cpu/" in seen
    json.loads(proc.stdout)  # stdout stays clean JSON
    _, _, err = manage("--no-samples", "--probe", "/fine/", "--probe", "/cpu/")
    assert "probing" not in err  # not a terminal: no progress line
