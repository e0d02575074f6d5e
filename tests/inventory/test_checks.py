from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.core import checks
from django.core.management import call_command

import async_audit.inventory.checks
from async_audit.findings import Finding
from async_audit.inventory.checks import TAG, check_id

ROOT = Path(__file__).resolve().parents[2]
BROKEN = "tests.inventory.middleware.ForgetsToMark"
# What the full list holds for our test settings (the default startproject stack, DEBUG off).
FULL_LIST = ["async_audit.I100", "async_audit.W102", "async_audit.W103"]


def _ids(messages: list[checks.CheckMessage]) -> list[str]:
    return sorted({m.id for m in messages if m.id})


def test_check_ids_keep_the_code_digits_and_never_block_a_command():
    def finding(code, severity):
        return Finding(code=code, severity=severity, target="t", message="m")

    assert check_id(finding("AA102", "warning")) == "async_audit.W102"
    # An error-level finding is a check *warning*: it must not stop migrate or runserver.
    assert check_id(finding("AA202", "error")) == "async_audit.W202"
    assert check_id(finding("AA204", "info")) == "async_audit.I204"


@pytest.mark.django_db  # every check runs here: on Django 6.1 a model check asks SQLite
def test_a_project_with_only_advice_gets_no_check_message_by_default():
    assert checks.run_checks(tags=[TAG]) == []
    assert checks.run_checks() == []  # what migrate and runserver run


def test_a_broken_middleware_is_reported_by_default(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, BROKEN]
    messages = checks.run_checks(tags=[TAG])
    assert [(m.id, m.obj) for m in messages] == [("async_audit.W106", BROKEN)]
    assert "manage.py async_audit" in messages[0].hint


def test_the_deploy_flag_with_the_tag_gives_the_full_list(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, BROKEN]
    messages = checks.run_checks(tags=[TAG], include_deployment_checks=True)
    assert _ids(messages) == sorted([*FULL_LIST, "async_audit.W106"])
    # The cause once (from the default check), then the seven members it breaks (knock-on,
    # in the full list only); each middleware's advice once.
    counts = Counter(m.id for m in messages)
    assert counts["async_audit.W106"] == 8
    assert counts["async_audit.W102"] == 7
    csrf = [m for m in messages if m.id == "async_audit.W103"]
    assert csrf[0].obj == "django.middleware.csrf.CsrfViewMiddleware"
    assert isinstance(csrf[0], checks.Warning)


def test_the_summary_line_counts_the_hops_and_the_advice():
    messages = checks.run_checks(tags=[TAG], include_deployment_checks=True)
    (summary,) = [m for m in messages if m.id == "async_audit.I100"]
    advice = len(messages) - 1
    assert "15 thread hops per request under ASGI (16 with a sync view)" in summary.msg
    assert f"{advice} finding(s) are advice" in summary.msg
    assert "manage.py async_audit" in summary.hint


def test_checks_all_reports_every_finding_on_every_command_and_once_with_deploy(settings):
    settings.ASYNC_AUDIT = {"CHECKS": "all"}
    every_command = checks.run_checks(tags=[TAG])
    assert _ids(every_command) == FULL_LIST
    with_deploy = checks.run_checks(tags=[TAG], include_deployment_checks=True)
    assert sorted(m.id for m in with_deploy) == sorted(m.id for m in every_command)


def test_silenced_system_checks_silence_one_kind(settings, capsys):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, BROKEN]
    settings.SILENCED_SYSTEM_CHECKS = ["async_audit.W106"]
    call_command("check", tag=[TAG])
    assert "System check identified no issues (1 silenced)" in capsys.readouterr().out

    settings.ASYNC_AUDIT = {"CHECKS": "all"}
    settings.SILENCED_SYSTEM_CHECKS = ["async_audit.W102"]
    messages = [m for m in checks.run_checks(tags=[TAG]) if not m.is_silenced()]
    assert _ids(messages) == ["async_audit.I100", "async_audit.W103", "async_audit.W106"]


def test_error_findings_are_shown_but_do_not_stop_commands(settings):
    settings.MIDDLEWARE = ["no_such_package.Middleware"]
    messages = checks.run_checks(tags=[TAG])
    assert [(m.id, m.obj, m.is_serious()) for m in messages] == [
        ("async_audit.W109", "no_such_package.Middleware", False)
    ]
    assert "manage.py async_audit" in messages[0].hint


def test_the_checks_are_skipped_when_limited_to_other_apps(settings):
    from django.apps import apps

    settings.MIDDLEWARE = [BROKEN]
    auth = [apps.get_app_config("auth")]
    assert async_audit.inventory.checks.check_static_audit(auth) == []
    assert async_audit.inventory.checks.check_static_audit_advice(auth) == []
    ours = [apps.get_app_config("async_audit")]
    assert _ids(async_audit.inventory.checks.check_static_audit(ours)) == ["async_audit.W106"]


def test_the_checks_leave_the_garbage_collector_as_they_found_it(settings):
    settings.ASYNC_AUDIT = {"CHECKS": "all"}
    checks.run_checks(tags=[TAG], include_deployment_checks=True)
    assert gc.isenabled()
    gc.disable()  # a host that runs with the collector off keeps it off
    try:
        checks.run_checks(tags=[TAG], include_deployment_checks=True)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_readme_documents_the_key_the_flag_and_the_ids():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Install in your project") : readme.index("## The command")]
    for text in (
        '"CHECKS": "all"',
        "check --deploy --tag async_audit",
        *FRESH_PROJECT_FULL_LIST,
        "async_audit.W100",
        "async_audit.E001",
        "async_audit.E002",
    ):
        assert text in section, text


# -- a real `django-admin startproject`, run the way a user runs it ---------------------------

# The full list on a fresh startproject, as the README's install section lists it.
FRESH_PROJECT_FULL_LIST = [
    "async_audit.I100",
    "async_audit.I108",
    "async_audit.W102",
    "async_audit.W103",
]
_CHECK_ID = re.compile(r"\((async_audit\.[EWI]\d{3})\)")

_BROKEN_PY = """\
import functools

from django.contrib.auth.models import User
from django.http import HttpResponse


class ForgetsToMark:
    # async_capable, but the instance is not a coroutine function: broken under ASGI.
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)


def count_hits(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        return view(request, *args, **kwargs)

    return wrapper


@count_hits
async def hidden(request):
    return HttpResponse("never awaited")


async def users(request):
    return HttpResponse(str(User.objects.count()))
"""

_SETTINGS_BROKEN_PY = """\
from .settings import *  # noqa

MIDDLEWARE = [*MIDDLEWARE, "mysite.broken.ForgetsToMark"]
ROOT_URLCONF = "mysite.urls_broken"
"""

_URLS_BROKEN_PY = """\
from django.urls import path

from . import broken
from .urls import urlpatterns as base

urlpatterns = [*base, path("hidden/", broken.hidden), path("users/", broken.users)]
"""


@pytest.fixture(scope="module")
def fresh_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fresh")
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(root)],
        check=True,
        env=_env(),
        timeout=60,
    )
    package = root / "mysite"
    # Exactly what the README's install section tells a user to add.
    with (package / "settings.py").open("a") as settings:
        settings.write('\nINSTALLED_APPS += ["async_audit"]\n')
    (package / "settings_all.py").write_text(
        'from .settings import *  # noqa\n\nASYNC_AUDIT = {"CHECKS": "all"}\n'
    )
    with (package / "wsgi.py").open("a") as wsgi:
        wsgi.write('\nimport sys\nsys.stderr.write("wsgi.py ran\\n")\n')
    (package / "broken.py").write_text(_BROKEN_PY)
    (package / "settings_broken.py").write_text(_SETTINGS_BROKEN_PY)
    (package / "urls_broken.py").write_text(_URLS_BROKEN_PY)
    return root


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _manage(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _check_ids(result: subprocess.CompletedProcess[str]) -> Counter[str]:
    return Counter(_CHECK_ID.findall(result.stdout + result.stderr))


def test_a_fresh_startproject_hears_nothing_from_the_app_on_migrate_and_check(fresh_project):
    migrate = _manage(fresh_project, "migrate")
    assert migrate.returncode == 0, migrate.stderr
    assert "Applying async_audit.0001_initial... OK" in migrate.stdout
    assert _check_ids(migrate) == Counter()
    assert "System check identified" not in migrate.stdout + migrate.stderr

    check = _manage(fresh_project, "check")
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "System check identified no issues (0 silenced)."
    assert check.stderr == ""


def test_check_never_runs_the_projects_wsgi_module(fresh_project):
    # wsgi.py builds the whole WSGI handler (and may start an APM agent): the audit's search
    # for an asgi.py next to it must not import it.
    check = _manage(fresh_project, "check", "--deploy", "--tag", "async_audit")
    assert "System check identified" in check.stderr
    assert "wsgi.py ran" not in check.stdout + check.stderr


def test_a_fresh_startproject_with_a_broken_middleware_and_views_gets_their_errors(
    fresh_project,
):
    check = _manage(fresh_project, "check", "--settings", "mysite.settings_broken")
    # Warnings, not errors: reported, but migrate and runserver still run.
    assert check.returncode == 0, check.stderr
    assert _check_ids(check) == Counter(
        {"async_audit.W106": 1, "async_audit.W202": 1, "async_audit.W203": 1}
    )
    output = check.stderr
    assert "mysite.broken.ForgetsToMark: (async_audit.W106)" in output
    assert "mysite.broken.hidden: (async_audit.W203)" in output
    assert "mysite.broken.users: (async_audit.W202)" in output
    assert "System check identified 3 issues (0 silenced)." in output

    gate = _manage(
        fresh_project, "check", "--settings", "mysite.settings_broken", "--fail-level", "WARNING"
    )
    assert gate.returncode == 1


def test_the_opt_in_key_and_the_deploy_flag_give_the_full_list_the_readme_lists(fresh_project):
    flag = _manage(fresh_project, "check", "--deploy", "--tag", "async_audit")
    key = _manage(fresh_project, "check", "--settings", "mysite.settings_all")
    for result in (flag, key):
        assert result.returncode == 0, result.stderr
        ids = _check_ids(result)
        assert sorted(ids) == FRESH_PROJECT_FULL_LIST
        assert ids["async_audit.W102"] == 7  # one per default middleware, in the full list only
    assert "15 thread hops per request under ASGI (16 with a sync view)" in flag.stderr


def test_a_bad_checks_value_is_a_settings_error(fresh_project):
    (fresh_project / "mysite" / "settings_typo.py").write_text(
        'from .settings import *  # noqa\n\nASYNC_AUDIT = {"CHECKS": "everything"}\n'
    )
    check = _manage(fresh_project, "check", "--settings", "mysite.settings_typo")
    assert check.returncode == 1
    assert _check_ids(check) == Counter({"async_audit.E002": 1})
    assert "ASYNC_AUDIT['CHECKS'] = 'everything' is invalid" in check.stderr


def test_a_finding_on_the_root_route_names_it_in_its_hint():
    from async_audit.findings import Finding
    from async_audit.inventory.checks import _message

    root = Finding(code="AA201", severity="warning", target="app.views.home", message="m",
                   evidence={}, route="", view="app.views.home")  # fmt: skip
    assert _message(root).hint == "route ''"
