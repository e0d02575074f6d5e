"""Whether a request says anything about its view, and if not, why (pure functions).

A 302 to the login page issued by a decorator, a 301 from ``APPEND_SLASH``, a 404 from the
resolver or a 500 are answers in which the view did little or nothing: judging the view
from them ("keep it sync: CPU-bound") would be a verdict about Django's error page. The
``view`` event (``instruments/views.py``) says whether the view was called at all.
"""

from __future__ import annotations

import fnmatch
from typing import Any

__all__ = [
    "is_error_status",
    "not_measured_reason",
    "route_key",
    "route_matches",
    "sample_reason",
    "view_ran",
]


def route_matches(route: str, glob: str) -> bool:
    """A route pattern named exactly, or matched by a glob (``api/*``). Exactly first: a
    ``re_path`` pattern such as ``^items/(?P<pk>[0-9]+)/$`` is no glob of itself
    (``[0-9]`` is a character class to ``fnmatch``)."""
    return route == glob or fnmatch.fnmatchcase(route, glob)


def route_key(trace: dict[str, Any]) -> str:
    """How traces are grouped into routes: the URL pattern (``""`` is the root route, a real
    route), else the view, else the label."""
    route = trace.get("route")
    if route is not None:
        return str(route)
    return str(trace.get("view") or trace.get("label") or "?")


def view_ran(trace: dict[str, Any]) -> bool:
    """The view was called (a trace that dropped events may have lost that event: assume so)."""
    if any(e.get("kind") == "view" for e in trace.get("events") or ()):
        return True
    return bool((trace.get("summary") or {}).get("dropped_events"))


def is_error_status(status: Any) -> bool:
    return not isinstance(status, int) or status >= 400


def _short(type_name: str | None) -> str:
    return (type_name or "").rsplit(".", 1)[-1]


def not_measured_reason(
    status: int | None,
    *,
    ran: bool,
    exception: str | None = None,
    location: str | None = None,
    login: bool = False,
    method: str = "GET",
) -> str | None:
    """None when the response is the view's work; else one line saying what happened.

    ``exception``: the type of the exception Django turned into the response, if any;
    ``location``: where a 3xx pointed; ``login``: that place is the login page;
    ``method``: the request's (a redirect after a POST is the view's work done).
    """
    exc = _short(exception)
    if status is None:
        return f"no response: the application raised {exc or 'an exception'}"
    if status >= 500:
        if ran:
            return (
                f"{status}: the view raised {exc}"
                if exc
                else f"{status}: the view answered an error"
            )
        return f"{status}: {exc or 'an error'} before the view ran"
    if status >= 400:
        if exc == "Resolver404":
            return f"answered {status}: no URL pattern matches this path"
        by = "by the view" if ran else "before the view ran"
        return f"answered {status} {by}" + (f" ({exc})" if exc else "")
    if 300 <= status < 400:
        if login:
            return "redirected to the login page"
        where = f" to {location}" if location else ""  # stored samples keep no location
        if not ran:
            return f"redirected{where} before the view ran"
        if method in ("GET", "HEAD"):
            # A decorator (user_passes_test, a permission check) or a mixin's dispatch sends
            # a GET elsewhere without the page's work: nothing here says what the page costs.
            return f"redirected{where}: the page itself was not shown"
        return None
    if not ran:
        if exc == "Resolver404":  # DEBUG answers an empty URLconf's root with a 200
            return (
                f"answered {status}: no URL pattern matches this path (Django's DEBUG welcome page)"
            )
        return f"answered {status} before the view ran (a middleware answered)"
    return None


def sample_reason(trace: dict[str, Any]) -> str | None:
    """Why a stored sample is not measured (an error response, or a GET sent elsewhere, says
    nothing about the view's work), or None: it is judged. Unknown statuses (older
    samples) are judged as before."""
    status = trace.get("status")
    if not isinstance(status, int) or status < 300:
        return None
    method = trace.get("method")
    return not_measured_reason(
        status, ran=view_ran(trace), method=method if isinstance(method, str) else "GET"
    )
