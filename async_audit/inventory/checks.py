"""The static audit as Django system checks (tag ``async_audit``).

Every command that runs checks (``migrate``, ``runserver``, ``check``...) runs the default
check, so by default it speaks only about what is broken or will break under ASGI: the
error-level findings (AA106, AA107, AA109, AA202, AA203), each cause once. The rest is
advice, one flag away (``check --deploy --tag async_audit``: the deploy-only check below),
on every command with ``ASYNC_AUDIT = {"CHECKS": "all"}``, and in ``manage.py async_audit``.

Each finding becomes a check message with id ``async_audit.<I|W><digits of its code>``
(AA102 -> ``async_audit.W102``), so a project silences one kind with
``SILENCED_SYSTEM_CHECKS``. In the full list, problems the audit hit itself are
``async_audit.W100`` and one summary line (hops per request, findings) is ``async_audit.I100``.

Error-level findings are reported as warnings here: a system-check Error stops ``migrate``,
``runserver`` and ``test``, and a finding from a heuristic source scan, or about ASGI in a
project still served by WSGI, must never block a team's workflow. ``manage.py async_audit
--fail-on error`` (or ``check --fail-level WARNING``) is the gate for CI.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Info, Warning, register

from async_audit import conf
from async_audit.findings import Finding

if TYPE_CHECKING:
    from async_audit.inventory import StaticAudit

__all__ = ["TAG", "check_id", "check_static_audit", "check_static_audit_advice"]

TAG = "async_audit"
_LEVELS = {"info": ("I", Info), "warning": ("W", Warning), "error": ("W", Warning)}


def check_id(finding: Finding) -> str:
    letter, _ = _LEVELS[finding.severity]
    return f"async_audit.{letter}{finding.code.removeprefix('AA')}"


def _message(finding: Finding) -> CheckMessage:
    _, level = _LEVELS[finding.severity]
    hint = f"route {finding.route!r}" if finding.route is not None else None  # "" is the root
    if finding.severity == "error":
        hint = "; ".join(filter(None, ["an error-level finding of manage.py async_audit", hint]))
    return level(finding.message, hint=hint, obj=finding.target, id=check_id(finding))


def _ours(app_configs: Sequence[AppConfig] | None) -> bool:
    # Project-wide: skip when checks are limited to apps that do not include ours.
    return app_configs is None or any(a.name == "async_audit" for a in app_configs)


def _summary(audit: StaticAudit, advice: int) -> CheckMessage:
    chain = audit.chain
    hops = (
        f"Django's machinery costs {chain.per_request_hops(True)} thread hops per request "
        f"under ASGI ({chain.per_request_hops(False)} with a sync view)"
        if chain is not None
        else "the middleware chain could not be analysed"
    )
    return Info(
        f"async audit: {hops}; {len(audit.views)} routes, {advice} finding(s) are advice.",
        hint="Run `manage.py async_audit` for the full audit, with the fix for each finding.",
        id="async_audit.I100",
    )


def _must_act(finding: Finding) -> bool:
    # A member broken only because the one below it is (AA106 knock-on) is not a second
    # thing to fix: one broken middleware at the bottom would otherwise give eight errors.
    return finding.severity == "error" and not finding.evidence.get("knock_on")


def _advice(audit: StaticAudit) -> list[CheckMessage]:
    """What the default check leaves out: advice, knock-on errors, the audit's own problems,
    and a summary line."""
    rest = [f for f in audit.findings if not _must_act(f)]
    messages = [_message(f) for f in rest]
    messages.extend(Warning(f"async audit: {e}", id="async_audit.W100") for e in audit.errors)
    messages.append(_summary(audit, len(rest)))
    return messages


@contextmanager
def _no_gc_passes() -> Iterator[None]:
    """Parsing the source of async views allocates many AST nodes, none in a cycle: with the
    collector on, a third of the check's CPU went to collections that found nothing (111 on
    a project of 1,000 async views). It is on again, if it was, as soon as the audit ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@register(TAG)
def check_static_audit(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """On every command: the error-level findings only, unless ``CHECKS`` is ``"all"``."""
    if not _ours(app_configs):
        return []
    from async_audit.inventory import audit_static

    if conf.get("CHECKS") == "all":
        with _no_gc_passes():
            audit = audit_static()
        return [_message(f) for f in audit.findings if _must_act(f)] + _advice(audit)
    # No finding shown here depends on the cross-check against Django's built chain (its
    # mismatches are W100, advice), so skip building it: this runs on every migrate.
    with _no_gc_passes():
        audit = audit_static(verify_chain=False)
    return [_message(f) for f in audit.findings if _must_act(f)]


@register(TAG, deploy=True)
def check_static_audit_advice(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """With ``check --deploy``: the rest of the audit, so ``--deploy --tag async_audit``
    together with the default check lists every finding."""
    if not _ours(app_configs) or conf.get("CHECKS") == "all":
        return []  # with "all" the default check has listed everything already
    from async_audit.inventory import audit_static

    with _no_gc_passes():
        audit = audit_static()
    return _advice(audit)
