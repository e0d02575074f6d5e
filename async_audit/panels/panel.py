"""The debug-toolbar panel: what this request did under ASGI (or would do), and the verdict.

The panel owns the request's trace through ``OwnedTrace`` while the rest of the chain runs
below it (``process_request``), so what it reports is what sits below the toolbar in
MIDDLEWARE plus the view. Nothing here hops: under ASGI ``process_request`` returns the
coroutine of the panels below wrapped in one of ours, and ``generate_stats`` is plain
computation on the loop thread. Everything shown is rendered from ``get_stats()``, so a
request picked in History, or read from a store by another process, looks the same.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable
from typing import Any

from debug_toolbar.panels import Panel
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase
from django.template.loader import render_to_string

from async_audit.findings import route_label
from async_audit.inventory.chain import TOOLBAR_MIDDLEWARE
from async_audit.panels.story import build_story, subtitle
from async_audit.trace.owner import OwnedTrace, max_events_setting
from async_audit.trace.stack import mark_boundary

__all__ = ["AsyncAuditPanel"]

logger = logging.getLogger("async_audit")

_chain: dict[str, Any] | None = None
_chain_done = False


def _static_chain() -> dict[str, Any] | None:
    """The static audit of the chain, once per process (it never changes while serving)."""
    global _chain, _chain_done
    if not _chain_done:
        _chain_done = True
        try:
            from async_audit.inventory.chain import analyse_chain

            _chain = analyse_chain(verify=False).to_dict()
        except Exception:
            logger.warning("async_audit panel: the middleware chain audit failed", exc_info=True)
    return _chain


def _toolbar_hops_outside(panel: Panel, chain: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Hops the toolbar makes under ASGI before the panel sees the request.

    Only when its middleware runs async: then a sync ``SHOW_TOOLBAR_CALLBACK`` runs in
    ``sync_to_async``, and so does the SQL panel's ``enable_instrumentation``.
    """
    members = (chain or {}).get("members") or []
    member = next((m for m in members if m["path"] == TOOLBAR_MIDDLEWARE), None)
    if member is None or member["mode_under_asgi"] != "async":
        return []
    out: list[dict[str, Any]] = []
    if (member.get("hop_sources") or {}).get("SHOW_TOOLBAR_CALLBACK"):  # the chain audit's count
        out.append({"what": "sync SHOW_TOOLBAR_CALLBACK in sync_to_async", "hops": 1})
    for other in panel.toolbar.enabled_panels:
        if hasattr(other, "aenable_instrumentation") and type(other).__module__.startswith(
            "debug_toolbar.panels.sql"
        ):
            out.append(
                {"what": f"{other.panel_id}.enable_instrumentation in sync_to_async", "hops": 1}
            )
    return out


class AsyncAuditPanel(Panel):
    """``DEBUG_TOOLBAR_PANELS = [..., "async_audit.panels.AsyncAuditPanel"]``."""

    is_async = True
    template = "async_audit/panels/async_audit.html"
    nav_title = "Async audit"
    _max_events: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owned: OwnedTrace | None = None

    @property
    def title(self) -> str:
        stats = self.get_stats()
        if not stats.get("verdict"):
            return "Async audit"
        where = stats.get("route")
        where = stats.get("path") if where is None else f"/{where}"
        return f"Async audit: {stats.get('method', '')} {where} ({stats['verdict']})"

    @property
    def nav_subtitle(self) -> str:
        return subtitle(self.get_stats())

    @property
    def content(self) -> str:
        from async_audit.report.html import render_onion

        stats = self.get_stats()
        onion = render_onion(stats["middleware"], "your view") if stats.get("middleware") else None
        return render_to_string(
            self.template, {**stats, "onion": onion, "route_label": route_label(stats.get("route"))}
        )

    # -- instrumentation ------------------------------------------------------------------

    def enable_instrumentation(self) -> None:
        # Once per process, the first time the panel is on for a request (idempotent).
        from async_audit import instruments

        if not instruments.installed():
            instruments.install()
        if AsyncAuditPanel._max_events is None:
            AsyncAuditPanel._max_events = max_events_setting()

    # -- the request ----------------------------------------------------------------------

    def process_request(self, request: HttpRequest) -> Any:
        try:
            self._owned = OwnedTrace(f"{request.method} {request.path}", self._max_events)
        except Exception:  # never break the host's request
            logger.warning("async_audit panel: could not start the trace", exc_info=True)
            return super().process_request(request)
        owned = self._owned
        try:
            # The base class's body, called here: under WSGI a frame of it would stay on the
            # stack between this boundary and the chain, and become the site of every hop the
            # view makes (the async view's async_to_sync read as the toolbar's own hop).
            response = self.get_response(request)
        except BaseException:
            owned.finish(500)
            raise
        if inspect.isawaitable(response):
            return self._finish_after(response, owned)
        owned.finish(getattr(response, "status_code", None))
        return response

    async def _finish_after(
        self, response: Awaitable[HttpResponseBase], owned: OwnedTrace
    ) -> HttpResponseBase:
        status: int | None = 500
        try:
            result = await response
            status = result.status_code
            return result
        finally:
            owned.finish(status)

    # The request's owner: what calls the panel (the toolbar's middleware and the panels
    # above this one) is not where anything below was made. Without a boundary here, every
    # hop and blocking call of the chain and view would have its site in the toolbar.
    mark_boundary(process_request)
    mark_boundary(_finish_after)

    def generate_stats(self, request: HttpRequest, response: HttpResponseBase) -> None:
        owned, self._owned = self._owned, None
        if owned is None:
            return
        try:
            owned.finish(response.status_code)
            if not owned.name_from_match(getattr(request, "resolver_match", None)):
                owned.name_from_path(request.path_info, getattr(request, "urlconf", None))
            from async_audit.verdicts import Thresholds

            chain = _static_chain()
            stats = build_story(
                owned.export(),
                server="asgi" if isinstance(request, ASGIRequest) else "wsgi",
                chain=chain,
                toolbar_path=TOOLBAR_MIDDLEWARE,
                toolbar_hops_outside=_toolbar_hops_outside(self, chain)
                if isinstance(request, ASGIRequest)
                else [],
                thresholds=Thresholds.from_settings(),
                path=request.path,
                method=request.method or "GET",
                owner_thread=owned.trace.thread,
                owner_on_loop=owned.trace.loop is not None,
            )
        except Exception as exc:
            logger.warning("async_audit panel: could not build the request's story", exc_info=True)
            stats = {"error": f"{type(exc).__name__}: {exc}"}
        self.record_stats(stats)

    def generate_server_timing(self, request: HttpRequest, response: HttpResponseBase) -> None:
        stats = self.get_stats()
        if not stats.get("verdict"):
            return
        hops = stats["hops"]
        self.record_server_timing(
            "hops", "Thread hops (without the toolbar)", hops["without_toolbar"]
        )
        self.record_server_timing("hop_ms", "Thread hop overhead ms", stats["hop_ms"])
        self.record_server_timing("io_ms", "I/O ms", stats["io_ms"])
        self.record_server_timing("blocking_ms", "Blocking on the loop ms", stats["blocking_ms"])
