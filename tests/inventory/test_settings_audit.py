from __future__ import annotations

import pytest

from async_audit.inventory.settings_audit import asgi_modules, environment, settings_findings
from async_audit.inventory.views import inventory_views

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


def _findings():
    return settings_findings(inventory_views().views)


@pytest.fixture
def wsgi_only(settings):
    settings.SETTINGS_MODULE = "tests.inventory.wsgionly.settings"
    settings.ROOT_URLCONF = "tests.inventory.wsgionly.urls"
    settings.WSGI_APPLICATION = "tests.inventory.wsgionly.wsgi.application"
    settings.ASGI_APPLICATION = None


def test_the_test_project_has_an_asgi_application():
    assert asgi_modules()[0] == "tests.asgi.application"
    assert environment()["server"] == "asgi"


def test_a_project_with_a_clean_asgi_setup_has_no_settings_findings():
    assert _findings() == []


def test_async_views_without_any_asgi_entry_point_are_aa104(wsgi_only):
    (finding,) = [f for f in _findings() if f.code == "AA104"]
    assert finding.severity == "warning"
    assert finding.evidence["async_view_count"] == 2
    assert finding.evidence["wsgi_application"] == "tests.inventory.wsgionly.wsgi.application"
    assert "tests.inventory.wsgionly.asgi" in finding.evidence["looked_for"]
    assert environment()["server"] == "wsgi"


def test_without_async_views_a_wsgi_project_is_fine(wsgi_only):
    sync_views = [v for v in inventory_views().views if not v.is_async]
    assert sync_views
    assert settings_findings(sync_views) == []


def test_persistent_connections_under_asgi_are_aa105_per_alias(settings):
    settings.DATABASES = {
        **settings.DATABASES,
        "default": {**settings.DATABASES["default"], "CONN_MAX_AGE": 60},
        "pg": {**settings.DATABASES["pg"], "CONN_MAX_AGE": None},
    }
    findings = [f for f in _findings() if f.code == "AA105"]
    assert [(f.target, f.evidence["CONN_MAX_AGE"]) for f in findings] == [
        ("DATABASES['default']", 60),
        ("DATABASES['pg']", None),
    ]
    assert "pool" in findings[0].message


def test_persistent_connections_without_asgi_are_not_flagged(settings, wsgi_only):
    settings.DATABASES = {
        "default": {**settings.DATABASES["default"], "CONN_MAX_AGE": 60},
    }
    assert [f.code for f in _findings()] == ["AA104"]


def test_atomic_requests_with_async_views_is_aa107_unless_exempt(settings, wsgi_only):
    settings.DATABASES = {
        "default": {**settings.DATABASES["default"], "ATOMIC_REQUESTS": True},
    }
    (finding,) = [f for f in _findings() if f.code == "AA107"]
    assert finding.severity == "error"
    assert finding.target == "DATABASES['default']"
    assert finding.evidence["views"] == ["tests.inventory.views.clean"]  # with_arg is exempt


def test_debug_is_an_info_finding(settings):
    settings.DEBUG = True
    assert [(f.code, f.severity, f.target) for f in _findings()] == [("AA108", "info", "DEBUG")]
