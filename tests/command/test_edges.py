"""The command at the edges, run as a user runs it (a subprocess): a fresh startproject,
the root route, responses the view did not make, paths the resolver alone would refuse,
bad input, and what a report may contain."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.command.test_command import SCHEMA, manage
from tests.conftest import ROOT

PY = sys.executable


def edges(*args: str) -> tuple[int, str, str]:
    return manage("--no-samples", *args, settings="tests.command.settings_edges")


def run_json(*args: str) -> dict:
    status, out, err = edges("--format", "json", *args)
    assert status == 0, err
    assert err == ""
    report = json.loads(out)
    jsonschema.validate(report, SCHEMA)
    return report


# -- a fresh startproject -------------------------------------------------------------------


@pytest.fixture(scope="module")
def startproject(tmp_path_factory) -> Path:
    """`django-admin startproject` exactly as generated (DEBUG = True, ALLOWED_HOSTS = []),
    the app added, migrated, with one superuser."""
    root = tmp_path_factory.mktemp("fresh")
    subprocess.run([PY, "-m", "django", "startproject", "mysite", str(root)], check=True)
    settings = root / "mysite" / "settings.py"
    text = settings.read_text()
    assert "DEBUG = True" in text and "ALLOWED_HOSTS = []" in text
    # Whichever quotes this Django's template uses.
    added = re.sub(
        r"""(["']django\.contrib\.staticfiles["'],)""", r"""\1\n    "async_audit",""", text
    )
    assert added != text
    settings.write_text(added)
    in_project(root, "migrate", "-v0")
    in_project(
        root, "shell", "-c",
        "from django.contrib.auth.models import User; User.objects.create_superuser('ada', 'a@example.com', 'pw')",
    )  # fmt: skip
    return root


def in_project(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [PY, "manage.py", *args], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def sessions_and_last_login(root: Path) -> str:
    out = in_project(
        root, "shell", "-c",
        "from django.contrib.sessions.models import Session; from django.contrib.auth.models import User; "
        "print('RESULT', Session.objects.count(), User.objects.get().last_login)",
    ).stdout  # fmt: skip
    return out[out.index("RESULT") :].strip()


def test_a_fresh_startproject_is_probed_with_a_host_it_accepts_and_a_quiet_terminal(startproject):
    proc = in_project(
        startproject, "async_audit", "--no-samples", "--format", "json",
        "--probe", "/admin/login/", "--probe", "/nope/", "--probe", "/",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no DisallowedHost traceback, no "Not Found: /nope/"
    report = json.loads(proc.stdout)
    login, nope, root = report["probes"]
    assert (root["status"], root["measured"], root["not_measured"]) == (
        200, False, "answered 200: no URL pattern matches this path (Django's DEBUG welcome page)"
    )  # fmt: skip
    assert login["status"] == 200 and login["measured"] is True
    assert [r["route"] for r in report["routes"]] == ["admin/login/"]
    assert nope["status"] == 404 and nope["measured"] is False
    assert nope["not_measured"] == "answered 404: no URL pattern matches this path"


def test_a_login_redirect_is_not_measured_and_probe_user_logs_in_for_the_run_only(startproject):
    proc = in_project(
        startproject, "async_audit", "--no-samples", "--format", "json", "--probe", "/admin/"
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    (probe,) = report["probes"]
    assert probe["status"] == 302 and probe["not_measured"] == "redirected to the login page"
    assert report["routes"] == [] and probe["wall_ms"] is None
    assert any("--probe-user USERNAME" in n for n in report["notes"])

    proc = in_project(
        startproject, "async_audit", "--no-samples", "--format", "json",
        "--probe", "/admin/", "--probe-user", "ada",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    (probe,) = report["probes"]
    assert probe["status"] == 200 and probe["measured"] is True
    assert [r["route"] for r in report["routes"]] == ["admin/"]
    # The session was deleted after the run, and logging in wrote nothing (no last_login).
    assert sessions_and_last_login(startproject) == "RESULT 0 None"


# -- the root route, responses the view did not make ------------------------------------------


@pytest.fixture(scope="module")
def edge_report() -> dict:
    return run_json(
        "--probe", "/", "--probe", "/private/", "--probe", "/boom/", "--probe", "/moved/",
        "--probe", "/docs", "--probe", "/shop/", "--probe", "/caf%C3%A9/", "--probe", "/café/",
        "--probe", "/staff/",
    )  # fmt: skip


def test_the_root_route_gets_its_row_its_verdict_and_its_findings(edge_report):
    root = next(r for r in edge_report["routes"] if r["route"] == "")
    assert root["view"] == "tests.command.edges.home" and root["verdict"] == "fix-first"
    assert ("AA301", "") in {(f["code"], f.get("route")) for f in edge_report["findings"]}


def test_the_root_route_is_named_wherever_the_text_report_lists_routes():
    # "" joined into a list printed as "(, sync/)": the root route must read as itself.
    status, out, err = edges("--probe", "/", "--traffic", "=5")
    assert status == 0, err
    assert re.search(r'^  "" \(root\) +fix-first +5\.00 +5\.00 +--traffic =5', out, re.M), out
    status, out, err = edges("--probe", "/")
    assert 'no arrival rate for 1 route(s) with evidence ("" (root))' in out
    status, _, err = edges("--route", "nomatch/")
    assert status == 2 and 'try one of: "" (root), ' in err


def test_fail_on_error_exits_1_for_a_blocking_async_home_page():
    status, _, err = edges("--probe", "/", "--fail-on", "error")
    assert status == 1, err
    assert "finding(s) at error level or above" in err


def test_responses_the_view_did_not_make_are_reported_not_judged(edge_report):
    probes = {p["path"]: p for p in edge_report["probes"]}
    paths = ("/private/", "/boom/", "/docs", "/shop/", "/staff/", "/moved/")
    reasons = {path: probes[path]["not_measured"] for path in paths}
    assert reasons == {
        "/private/": "redirected to the login page",
        "/boom/": "500: the view raised ValueError",
        "/docs": "redirected to /docs/ before the view ran",
        "/shop/": "redirected to /en/shop/ before the view ran",
        # A decorator's redirect elsewhere than the login page, and a GET the view sends on:
        # neither shows what the page costs.
        "/staff/": "redirected to /denied/: the page itself was not shown",
        "/moved/": "redirected to /docs/: the page itself was not shown",
    }
    routes = {r["route"] for r in edge_report["routes"]}
    assert not routes & {"private/", "boom/", "docs/", "en/shop/", "staff/", "moved/"}
    assert not {f.get("route") for f in edge_report["findings"]} & {"staff/", "moved/"}


def test_a_login_page_on_another_host_is_known_as_the_login_page():
    status, out, err = manage(
        "--no-samples", "--format", "json", "--probe", "/private/",
        settings="tests.command.settings_edges_sso",
    )  # fmt: skip
    assert status == 0, err
    (private,) = json.loads(out)["probes"]
    assert private["not_measured"] == "redirected to the login page"


def test_a_percent_encoded_path_matches_like_the_decoded_one(edge_report):
    encoded, decoded = (p for p in edge_report["probes"] if p["path"] in ("/caf%C3%A9/", "/café/"))
    assert encoded["status"] == decoded["status"] == 200
    assert encoded["route"] == decoded["route"] == "café/"


def test_follow_probes_a_redirect_the_view_did_not_make_once_within_the_site():
    report = run_json("--follow", "--probe", "/docs", "--probe", "/shop/", "--probe", "/private/")
    docs, shop, private = report["probes"]
    assert (docs["path"], docs["followed"], docs["status"], docs["route"]) == (
        "/docs",
        "/docs/",
        200,
        "docs/",
    )
    assert (shop["followed"], shop["status"], shop["route"]) == ("/en/shop/", 200, "en/shop/")
    assert docs["measured"] and shop["measured"]
    # A login redirect is not followed: the login page says nothing about the view.
    assert private["followed"] is None and private["not_measured"] == "redirected to the login page"


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "settings", "reason"),
    [
        (["--since", "99999999d"], "tests.command.settings_edges", "--since '99999999d': too far back"),
        (["--probe", "/x/"], "tests.command.settings_broken_urls",
         "ROOT_URLCONF 'tests.command.no_such_urls_module' could not be imported: ModuleNotFoundError"),
        (["--probe-all"], "tests.command.settings_broken_urls", "could not be imported"),
        (["--probe-user", "ada"], "tests.command.settings_edges", "--probe-user needs --probe"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(args, settings, reason):
    status, out, err = manage("--no-samples", *args, settings=settings)
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert reason in err and out == ""


# -- what a report may contain --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "html"])
def test_exception_messages_and_query_strings_never_reach_a_report(fmt):
    status, out, err = edges("--format", fmt, "--probe", "/boom/?token=s3cr3t-t0ken")
    assert status == 0, err
    assert "4111" not in out and "alice@example.com" not in out  # the exception's message
    assert "s3cr3t" not in out and "token" not in out  # the probe's query string
    assert "ValueError" in out and re.search(r"edges\.py:\d+", out)  # type and site stay


def test_with_djangos_loggers_at_debug_the_terminal_still_gets_no_user_data():
    status, out, err = manage(
        "--no-samples", "--probe", "/boom/", "--probe", "/nonexistent/",
        settings="tests.command.settings_edges_debuglog",
    )  # fmt: skip
    assert status == 0, err
    assert "alice@example.com" not in out + err  # the exception's message
    assert err == ""  # no template or query debug logging either


def test_route_glob_of_the_empty_pattern_selects_the_root_route_only():
    report = run_json("--probe-all", "--route", "")
    assert [p["path"] for p in report["probes"]] == ["/"]
    assert [r["route"] for r in report["routes"]] == [""]
