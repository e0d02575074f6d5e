"""Settings that decide how the project behaves under ASGI (AA104, AA105, AA107, AA108)."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from async_audit.findings import Finding
from async_audit.inventory.views import ViewEntry

__all__ = ["asgi_modules", "environment", "settings_findings"]


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a missing parent package, or a bad name
        return False


def _candidates() -> list[str]:
    """Where ``startproject`` puts ``asgi.py``: next to the settings, the WSGI module and the
    root URLconf, or one package up (split settings: ``site/settings/prod.py``)."""
    names: list[str] = []
    wsgi = getattr(settings, "WSGI_APPLICATION", None)
    for dotted in (
        getattr(settings, "SETTINGS_MODULE", None),
        # "site.wsgi.application" names an attribute: its module's siblings are wanted. Taken
        # as a module, "site.wsgi.asgi" would make find_spec import site.wsgi, which builds
        # the whole WSGI handler (and runs whatever else wsgi.py does) on every check.
        wsgi.rpartition(".")[0] if isinstance(wsgi, str) else None,
        getattr(settings, "ROOT_URLCONF", None),
    ):
        if not isinstance(dotted, str) or not dotted:
            continue
        parts = dotted.split(".")
        for up in (1, 2):
            if len(parts) > up:
                names.append(".".join([*parts[:-up], "asgi"]))
    return list(dict.fromkeys(names))


def asgi_modules() -> list[str]:
    """ASGI entry points the project has: ``ASGI_APPLICATION`` or an ``asgi`` module."""
    found: list[str] = []
    configured = getattr(settings, "ASGI_APPLICATION", None)
    if isinstance(configured, str) and configured:
        found.append(configured)
    found.extend(f"{name}.application" for name in _candidates() if _module_exists(name))
    return list(dict.fromkeys(found))


def environment() -> dict[str, Any]:
    import platform

    import django

    asgi = asgi_modules()
    wsgi = getattr(settings, "WSGI_APPLICATION", None)
    return {
        "django": django.get_version(),
        "python": platform.python_version(),
        "asgi_application": asgi[0] if asgi else None,
        "wsgi_application": wsgi,
        "server": "asgi" if asgi else ("wsgi" if wsgi else "unknown"),
    }


def _aa104(async_views: Sequence[ViewEntry], wsgi: object) -> Finding:
    return Finding(
        code="AA104",
        severity="warning",
        target="ASGI_APPLICATION",
        message=(
            f"{len(async_views)} async view(s) but no ASGI application is configured "
            f"(no ASGI_APPLICATION, no asgi.py next to the settings): served by WSGI, each "
            "runs in a new event loop through async_to_sync and gains nothing. Add an asgi.py "
            "(django.core.asgi.get_asgi_application) and serve it with an ASGI server "
            "(uvicorn, daphne, granian)."
        ),
        evidence={
            "async_views": [v.view for v in async_views[:10]],
            "async_view_count": len(async_views),
            "wsgi_application": wsgi,
            "looked_for": _candidates(),
        },
    )


def _aa105(alias: str, value: object) -> Finding:
    return Finding(
        code="AA105",
        severity="warning",
        target=f"DATABASES['{alias}']",
        message=(
            f"DATABASES['{alias}']['CONN_MAX_AGE'] is {value!r} under ASGI: sync ORM work runs "
            "in per-request threads, so persistent connections are not reused and pile up "
            "until they expire. Set CONN_MAX_AGE = 0 and pool instead (Django 5.1+ "
            "PostgreSQL: OPTIONS = {'pool': True}; or pgbouncer)."
        ),
        evidence={"alias": alias, "CONN_MAX_AGE": value},
    )


def _aa107(alias: str, views: Sequence[ViewEntry]) -> Finding:
    return Finding(
        code="AA107",
        severity="error",
        target=f"DATABASES['{alias}']",
        message=(
            f"DATABASES['{alias}']['ATOMIC_REQUESTS'] is True and {len(views)} async view(s) "
            "are not exempt: Django raises RuntimeError('You cannot use ATOMIC_REQUESTS with "
            "async views.') on every request to them. Decorate them with "
            "@transaction.non_atomic_requests or turn ATOMIC_REQUESTS off."
        ),
        evidence={"alias": alias, "views": sorted({v.view for v in views})[:20]},
    )


def _aa108() -> Finding:
    return Finding(
        code="AA108",
        severity="info",
        target="DEBUG",
        message=(
            "DEBUG is True: Django keeps every query in memory and logs mode adaptations, so "
            "timings measured now overstate production; audit with production settings "
            "before acting on latency figures."
        ),
        evidence={"DEBUG": True},
    )


def settings_findings(views: Sequence[ViewEntry]) -> list[Finding]:
    findings: list[Finding] = []
    async_views = [v for v in views if v.is_async]
    asgi = asgi_modules()
    if async_views and not asgi:
        findings.append(_aa104(async_views, getattr(settings, "WSGI_APPLICATION", None)))
    # settings.DATABASES, not connections.settings: the latter is cached at first use.
    databases: dict[str, dict[str, Any]] = dict(settings.DATABASES)  # type: ignore[arg-type]
    for alias, config in databases.items():
        conn_max_age = config.get("CONN_MAX_AGE", 0)
        if asgi and conn_max_age != 0:
            findings.append(_aa105(alias, conn_max_age))
        if config.get("ATOMIC_REQUESTS"):
            atomic = [
                v
                for v in async_views
                if alias not in getattr(v.callback, "_non_atomic_requests", set())
            ]
            if atomic:
                findings.append(_aa107(alias, atomic))
    if settings.DEBUG:
        findings.append(_aa108())
    return findings
