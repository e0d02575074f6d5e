from __future__ import annotations

from django.core import checks
from django.core.management import call_command

import async_audit.inventory.checks
from async_audit.findings import Finding
from async_audit.inventory.checks import TAG, check_id


def test_check_ids_keep_the_code_digits_and_never_block_a_command():
    def finding(code, severity):
        return Finding(code=code, severity=severity, target="t", message="m")

    assert check_id(finding("AA102", "warning")) == "async_audit.W102"
    # An error-level finding is a check *warning*: it must not stop migrate or runserver.
    assert check_id(finding("AA202", "error")) == "async_audit.W202"
    assert check_id(finding("AA204", "info")) == "async_audit.I204"


def test_findings_are_reported_by_manage_py_check_under_the_tag():
    messages = checks.run_checks(tags=[TAG])
    ids = sorted({m.id for m in messages})
    assert ids == ["async_audit.W102", "async_audit.W103"]
    csrf = [m for m in messages if m.id == "async_audit.W103"]
    assert csrf[0].obj == "django.middleware.csrf.CsrfViewMiddleware"
    assert isinstance(csrf[0], checks.Warning)


def test_silenced_system_checks_silence_one_code(settings, capsys):
    settings.SILENCED_SYSTEM_CHECKS = ["async_audit.W102", "async_audit.W103"]
    call_command("check", tag=[TAG])
    assert "System check identified no issues" in capsys.readouterr().out


def test_error_findings_are_shown_but_do_not_stop_commands(settings):
    settings.MIDDLEWARE = ["no_such_package.Middleware"]
    messages = checks.run_checks(tags=[TAG])
    assert [(m.id, m.obj, m.is_serious()) for m in messages] == [
        ("async_audit.W109", "no_such_package.Middleware", False)
    ]
    assert "manage.py async_audit" in messages[0].hint


def test_the_check_is_skipped_when_limited_to_other_apps():
    from django.apps import apps

    assert async_audit.inventory.checks.check_static_audit([apps.get_app_config("auth")]) == []
