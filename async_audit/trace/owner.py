"""Owning a request's trace: the one small API every face uses.

Probes (``TracedASGIApp``), the sampling middleware, the toolbar panel and the pytest
plugin all start, name, finish and export a request's trace through ``OwnedTrace``, so a
fix to how a trace is owned is a fix to all of them.

Owning a trace does not install the instruments: a face that records (the middleware, the
panel, a probe run) calls ``async_audit.instruments.install()`` once, when it is set up.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

from async_audit.trace.core import Trace, finish_trace, start_trace

__all__ = ["OwnedTrace", "max_events_setting", "view_is_async"]


def max_events_setting() -> int:
    """``ASYNC_AUDIT["MAX_EVENTS_PER_TRACE"]`` (settings are read once per owner, not per request)."""
    from async_audit import conf

    return int(conf.get("MAX_EVENTS_PER_TRACE"))


# Answers by view (a view's nature does not change; asking costs two inspect calls, at
# every sampled request). Bounded: views made per request would otherwise grow it.
_view_modes: dict[Any, bool] = {}
_VIEW_MODES_MAX = 4096


def view_is_async(view: Any) -> bool:
    """What Django's handler checks: an async function, or a CBV with async handlers."""
    try:
        known = _view_modes.get(view)
    except TypeError:  # unhashable
        return _view_is_async(view)
    if known is None:
        known = _view_is_async(view)
        if len(_view_modes) < _VIEW_MODES_MAX:
            _view_modes[view] = known
    return known


def _view_is_async(view: Any) -> bool:
    from asgiref.sync import iscoroutinefunction

    view_class = getattr(view, "view_class", None)
    if view_class is not None and hasattr(view_class, "view_is_async"):
        return bool(view_class.view_is_async)
    return iscoroutinefunction(view)


class OwnedTrace:
    """One request's trace, from ``OwnedTrace(label)`` to ``finish()``.

    Start it in the context the request runs in (the ContextVar is set there); name it
    from the resolver (``name_from_match`` with ``request.resolver_match``, or
    ``name_from_path``); ``finish(status)`` exactly once, from any context; then
    ``export()`` for storage (``private=False``: SQL fingerprints only, no messages).
    """

    __slots__ = ("_token", "trace")

    def __init__(self, label: str = "", max_events: int | None = None) -> None:
        self.trace: Trace
        self._token: Token[Trace | None] | None
        self.trace, self._token = start_trace(label, max_events)

    # -- naming ------------------------------------------------------------------------------

    def name(self, route: str | None, view: str | None, is_async: bool | None) -> None:
        """The URL pattern (``""`` is the root route, not "unnamed"), the view's dotted path."""
        self.trace.route = route
        self.trace.view = view
        self.trace.view_is_async = is_async

    def name_from_match(self, match: Any) -> bool:
        """From a ``ResolverMatch`` (``request.resolver_match``); False when there is none."""
        if match is None:
            return False
        self.name(match.route, match._func_path, view_is_async(match.func))
        return True

    def name_from_path(self, path: str, urlconf: str | None = None) -> bool:
        """From the URL resolver; False when no pattern matches ``path``."""
        from django.urls import Resolver404, resolve

        try:
            match = resolve(path, urlconf)
        except Resolver404:
            return False
        return self.name_from_match(match)

    # -- end ---------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.trace.finished

    def finish(self, status: int | None = None) -> Trace:
        """Stop the clock and leave the context; idempotent (the first call wins)."""
        if status is not None and self.trace.status is None:
            self.trace.status = status
        token, self._token = self._token, None
        return finish_trace(self.trace, token)

    def export(self, private: bool = False) -> dict[str, Any]:
        """The JSON-safe trace (see ``Trace.to_dict``)."""
        return self.trace.to_dict(private=private)
