"""Every URL pattern of the project, the view behind it, and how Django runs it under ASGI.

Routes and view paths are spelled exactly as Django spells them at request time
(``request.resolver_match.route`` and ``ResolverMatch._func_path``), so static entries and
runtime samples of the same route meet. ``is_async`` is what Django tests before it decides
to hop (``iscoroutinefunction`` of the callback it resolves), not what the source says: a
decorator can change it, and AA203 reports when that breaks the view.
"""

from __future__ import annotations

import itertools
import traceback
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django
from asgiref.sync import AsyncToSync, SyncToAsync, iscoroutinefunction
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern
from django.views import View

from async_audit.findings import Finding
from async_audit.inventory.project import dotted_path, is_project_object, project_roots

__all__ = ["ViewEntry", "ViewInventory", "inventory_views", "view_findings", "view_path"]

_DJANGO_DIR = str(Path(django.__file__).parent)
_HTTP_METHODS = tuple(m for m in View.http_method_names if m != "options")
# Names that show a wrapper adapts the mode itself (so a mode change is intended).
_ADAPTERS = frozenset({"async_to_sync", "sync_to_async", "to_thread", "run_in_executor"})


@dataclass
class ViewEntry:
    """One URL pattern; ``to_dict`` gives the contract's "views" entry plus extras."""

    route: str
    name: str | None
    view: str
    is_async: bool
    takes_args: bool
    kind: str  # "function" | "class" | "callable"
    project: bool
    # Wrapper layers between the callback Django calls and the view itself, outer first.
    decorators: list[str] = field(default_factory=list)
    callback: Any = field(default=None, repr=False, compare=False)
    target: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "name": self.name,
            "view": self.view,
            "is_async": self.is_async,
            "takes_args": self.takes_args,
            "kind": self.kind,
            "project": self.project,
            "decorators": list(self.decorators),
        }


@dataclass
class ViewInventory:
    views: list[ViewEntry]
    findings: list[Finding]
    errors: list[str]


def view_path(callback: Any) -> str:
    """The view's dotted path, as ``ResolverMatch._func_path`` computes it."""
    func = getattr(callback, "view_class", callback)
    if not hasattr(func, "__name__"):
        return f"{type(func).__module__}.{type(func).__name__}"
    return f"{func.__module__}.{func.__name__}"


def _join_route(route1: str, route2: str) -> str:
    # URLResolver._join_route: the inner route loses its leading "^".
    if not route1:
        return route2
    return route1 + route2.removeprefix("^")


def _takes_args(pattern: object) -> bool:
    if isinstance(pattern, RoutePattern):
        return bool(pattern.converters)
    if isinstance(pattern, RegexPattern):
        return pattern.regex.groups > 0
    return False


def _layers(callback: Any) -> list[Any]:
    """``callback`` and each ``__wrapped__`` below it; asgiref adapters end the walk."""
    layers = [callback]
    seen = {id(callback)}
    current = callback
    while not isinstance(current, (SyncToAsync, AsyncToSync)):
        inner = getattr(current, "__wrapped__", None)
        if inner is None or id(inner) in seen:
            break
        layers.append(inner)
        seen.add(id(inner))
        current = inner
    return layers


def _layer_name(layer: Any) -> str:
    """A wrapper's own name: functools.wraps copied the view's name onto it, so it is read
    from the code object (Python 3.10 has no co_qualname: module and function name there)."""
    code = getattr(layer, "__code__", None)
    if isinstance(code, types.CodeType):
        module = getattr(layer, "__globals__", {}).get("__name__", "?")
        return f"{module}.{getattr(code, 'co_qualname', code.co_name)}"
    return dotted_path(layer)


def _names_used(func: Any) -> set[str]:
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType):
        return set()
    names = set(code.co_names) | set(code.co_freevars)
    for const in code.co_consts:  # nested functions (e.g. an inner def in the wrapper)
        if isinstance(const, types.CodeType):
            names |= set(const.co_names)
    return names


def _location(obj: Any) -> dict[str, Any]:
    code = getattr(obj, "__code__", None)
    if isinstance(code, types.CodeType):
        return {"file": code.co_filename, "line": code.co_firstlineno}
    return {}


def _entry(
    pattern: URLPattern, route: str, namespaces: Sequence[str], roots: tuple[Path, ...]
) -> ViewEntry:
    callback = pattern.callback
    layers = _layers(callback)
    target = layers[-1]
    view_class = getattr(callback, "view_class", None)
    if view_class is not None:
        kind, target = "class", view_class
    elif isinstance(target, (types.FunctionType, types.MethodType, SyncToAsync, AsyncToSync)):
        kind = "function"
    else:
        kind, target = "callable", type(target)
    name = ":".join([*namespaces, pattern.name]) if pattern.name else None
    return ViewEntry(
        route=route,
        name=name,
        view=view_path(callback),
        is_async=iscoroutinefunction(callback),
        takes_args=False,
        kind=kind,
        project=is_project_object(target, roots),
        decorators=[_layer_name(layer) for layer in layers[:-1]],
        callback=callback,
        target=target,
    )


def _culprit(exc: BaseException) -> traceback.FrameSummary | None:
    """The innermost frame outside Django and the import machinery: the user's line."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if frame.filename.startswith("<frozen") or frame.filename.startswith(_DJANGO_DIR):
            continue
        return frame
    return frames[-1] if frames else None


def _failure(exc: BaseException) -> str:
    frame = _culprit(exc)
    where = f" ({frame.filename}, line {frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _aa109(urlconf: str, exc: BaseException, route: str) -> Finding:
    return Finding(
        code="AA109",
        severity="error",
        target=urlconf,
        message=(
            f"URLconf {urlconf} could not be loaded: {_failure(exc)}. Its routes are missing "
            "from this audit and Django will fail on them too."
        ),
        evidence={"urlconf": urlconf, "prefix": route, "error": _failure(exc)},
    )


def _urlconf_name(resolver: URLResolver) -> str:
    name = resolver.urlconf_name
    if isinstance(name, str):
        return name
    if isinstance(name, types.ModuleType):
        return name.__name__
    return "<list of patterns>"


def _walk(
    patterns: Iterable[Any],
    prefix: str,
    namespaces: list[str],
    takes_args: bool,
    inventory: ViewInventory,
    roots: tuple[Path, ...],
) -> None:
    for pattern in patterns:
        route = _join_route(prefix, str(pattern.pattern))
        args = takes_args or _takes_args(pattern.pattern)
        if isinstance(pattern, URLResolver):
            try:
                children = pattern.url_patterns
            except Exception as exc:  # the included urlconf (or a view module it imports) failed
                inventory.findings.append(_aa109(_urlconf_name(pattern), exc, route))
                inventory.errors.append(f"{_urlconf_name(pattern)}: {_failure(exc)}")
                continue
            inner = [*namespaces, pattern.namespace] if pattern.namespace else namespaces
            _walk(children, route, inner, args, inventory, roots)
        elif isinstance(pattern, URLPattern):
            entry = _entry(pattern, route, namespaces, roots)
            entry.takes_args = args
            inventory.views.append(entry)


def inventory_views(urlconf: str | None = None) -> ViewInventory:
    """Every URL pattern under ``urlconf`` (default ``ROOT_URLCONF``), with view findings."""
    inventory = ViewInventory(views=[], findings=[], errors=[])
    resolver = get_resolver(urlconf)
    try:
        patterns = resolver.url_patterns
    except Exception as exc:
        inventory.findings.append(_aa109(_urlconf_name(resolver), exc, ""))
        inventory.errors.append(f"{_urlconf_name(resolver)}: {_failure(exc)}")
        return inventory
    _walk(patterns, "", [], False, inventory, project_roots())
    inventory.findings.extend(view_findings(inventory.views))
    return inventory


# -- findings ---------------------------------------------------------------------------------


def _mode(func: Any) -> str:
    return "async" if iscoroutinefunction(func) else "sync"


def _aa203_layers(entry: ViewEntry) -> Finding | None:
    layers = _layers(entry.callback)
    for outer, inner in itertools.pairwise(layers):
        if iscoroutinefunction(outer) == iscoroutinefunction(inner):
            continue
        if _names_used(outer) & _ADAPTERS:
            continue  # the wrapper adapts on purpose
        wrapper = _layer_name(outer)
        if iscoroutinefunction(inner):
            problem = (
                f"the sync wrapper {wrapper} hides the async view: Django calls it as sync "
                "and gets an unawaited coroutine back (ValueError at request time)"
            )
            advice = (
                "Make the decorator async-aware: test iscoroutinefunction(view) and return "
                "an async def wrapper that awaits it (as django.contrib.auth's "
                "login_required does), or use asgiref's markcoroutinefunction."
            )
        else:
            problem = (
                f"the async wrapper {wrapper} calls the sync view on the event loop thread, "
                "blocking every other request while it runs"
            )
            advice = (
                "Return a sync wrapper for sync views (test iscoroutinefunction(view)), or "
                "await sync_to_async(view) inside the async wrapper."
            )
        return Finding(
            code="AA203",
            severity="error",
            target=entry.view,
            route=entry.route,
            view=entry.view,
            message=f"{entry.view}: {problem}. {advice}",
            evidence={
                "wrapper": wrapper,
                "wrapper_mode": _mode(outer),
                "wrapped": dotted_path(inner),
                "wrapped_mode": _mode(inner),
                **_location(outer),
            },
        )
    return None


def _own_dispatch(view_class: type) -> Callable[..., Any] | None:
    dispatch = getattr(view_class, "dispatch", None)
    if dispatch is None or dispatch is View.dispatch:
        return None
    return dispatch  # type: ignore[no-any-return]


def _aa203_class(entry: ViewEntry) -> Finding | None:
    view_class = entry.target
    dispatch = _own_dispatch(view_class)
    if not entry.is_async or dispatch is None or iscoroutinefunction(dispatch):
        return None
    return Finding(
        code="AA203",
        severity="error",
        target=entry.view,
        route=entry.route,
        view=entry.view,
        message=(
            f"{entry.view} has async HTTP handlers, so Django runs it as async, but its "
            f"dispatch ({dotted_path(dispatch)}) is sync and gets unawaited coroutines from "
            "them. Use a view base class with an async dispatch (e.g. adrf for Django REST "
            "framework) or make the handlers sync."
        ),
        evidence={"dispatch": dotted_path(dispatch), **_location(dispatch)},
    )


def _sync_dispatch_advice(dispatch: str) -> str:
    """Why async handlers are no option, naming who owns the sync dispatch."""
    keep = "keep it sync if it does CPU or short database work"
    if dispatch.startswith("rest_framework."):
        return (
            f"Its dispatch ({dispatch}) is Django REST framework's APIView's, which is sync, so "
            f"async handlers are not an option: {keep}, or port it to an async base class (adrf)."
        )
    if dispatch.startswith("django."):
        return (
            f"Its dispatch comes from Django ({dispatch}) and is sync: it answers some requests "
            "itself (a redirect, a 403) without awaiting, so async handlers are not an option "
            f"behind it: {keep}, or override dispatch as async def doing the same check."
        )
    return (
        f"Its own dispatch ({dispatch}) is sync, so async handlers are not an option: {keep}, "
        "or make dispatch async def along with the handlers if it waits on I/O."
    )


def _aa204(entry: ViewEntry) -> Finding | None:
    view_class = entry.target
    if entry.is_async or not entry.project or not isinstance(view_class, type):
        return None
    handlers = [m for m in _HTTP_METHODS if hasattr(view_class, m)]
    dispatch = _own_dispatch(view_class)
    sync_dispatch = dispatch is not None and not iscoroutinefunction(dispatch)
    if sync_dispatch:
        advice = _sync_dispatch_advice(dotted_path(dispatch))
    else:
        advice = (
            "Make all its HTTP handlers async def (" + ", ".join(handlers or ["get"]) + ") "
            "if it waits on I/O; Django then runs it on the event loop."
        )
    return Finding(
        code="AA204",
        severity="info",
        target=entry.view,
        route=entry.route,
        view=entry.view,
        message=(
            f"{entry.view} is sync-only under ASGI: Django runs it through sync_to_async, "
            f"one thread hop per request. {advice}"
        ),
        evidence={
            "handlers": handlers,
            "sync_dispatch": sync_dispatch,
            "hops_per_request": 1,
            "bases": [dotted_path(b) for b in view_class.__mro__[1:4]],
        },
    )


def view_findings(views: Iterable[ViewEntry]) -> list[Finding]:
    """AA203 (mode hidden or flipped by a decorator or dispatch) and AA204 (sync-only class)."""
    findings: list[Finding] = []
    for entry in views:
        finding = _aa203_layers(entry)
        if finding is None and entry.kind == "class":
            finding = _aa203_class(entry) or _aa204(entry)
        if finding is not None:
            findings.append(finding)
    return findings
