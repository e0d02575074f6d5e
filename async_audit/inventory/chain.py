"""The middleware chain Django builds under ASGI (and WSGI), and the thread hops it costs.

Nothing here runs a request. The chain is built the way ``BaseHandler.load_middleware`` builds
it -- same walk over ``reversed(settings.MIDDLEWARE)``, same ``adapt_method_mode`` and
``convert_exception_to_response`` -- but member by member, so one broken member is reported
by name instead of aborting everything. The result is then cross-checked against the chain
Django itself builds (``load_middleware(is_async=True)``), walked node by node.

Hop rules (Django 5.2 / 6.1, see docs/async-internals.md):

- a member runs sync if the handler below it is sync and it can run sync, else async if it
  can: a sync-only member drags every sync-capable member outside it into sync mode;
- where a member's mode differs from the handler below, Django inserts an adapter
  (``sync_to_async`` or ``async_to_sync``): one hop per request, and one more at the top when
  the outermost member runs sync under ASGI;
- ``MiddlewareMixin.__acall__`` wraps each of ``process_request`` / ``process_response`` in
  its own ``sync_to_async``: one hop per hook per request in async mode, although the class
  says ``async_capable = True``;
- a sync ``process_view`` / ``process_template_response`` is adapted under ASGI (one hop per
  call); ``process_exception`` always runs sync, inside one ``sync_to_async`` for the whole
  exception pass;
- the ASGI handler itself adds one hop for ``request_started``'s sync receivers and one for
  ``sync_to_async(response.close)``; a sync view adds one more.
"""

from __future__ import annotations

import inspect
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from asgiref.sync import AsyncToSync, SyncToAsync, iscoroutinefunction
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from async_audit.findings import Finding

__all__ = [
    "HOOKS",
    "ChainNode",
    "ChainReport",
    "MiddlewareEntry",
    "analyse_chain",
    "chain_findings",
    "walk_chain",
]

Mode = Literal["sync", "async"]
AdapterKind = Literal["sync_to_async", "async_to_sync"]

HOOKS = (
    "process_request",
    "process_view",
    "process_template_response",
    "process_exception",
    "process_response",
)
# Hooks MiddlewareMixin calls itself (so hops only when the mixin's __acall__ runs them).
_MIXIN_HOOKS = ("process_request", "process_response")
# Hooks Django's handler calls, whatever the member's class.
_HANDLER_HOOKS = ("process_view", "process_template_response", "process_exception")

# django-debug-toolbar's middleware: dual-mode, but it asks its SHOW_TOOLBAR_CALLBACK on
# every request, through an adapter when the callback's nature is not the middleware's.
TOOLBAR_MIDDLEWARE = "debug_toolbar.middleware.DebugToolbarMiddleware"

# Labels for the two ends of the chain in adapter records.
TOP = "ASGIHandler"
BOTTOM = "view dispatch"


@dataclass
class MiddlewareEntry:
    """One member of ``settings.MIDDLEWARE``; ``to_dict`` gives the contract's JSON entry."""

    index: int
    path: str
    sync_capable: bool = True
    async_capable: bool = False
    mode_under_asgi: str = "sync"  # "sync" | "async" | "unused" | "error"
    mode_under_wsgi: str = "sync"
    hops_per_request: int = 0
    hops_per_request_under_wsgi: int = 0
    hooks: list[str] = field(default_factory=list)
    hook_modes: dict[str, Mode] = field(default_factory=dict)
    # Where each per-request hop comes from: hook names and "adapter".
    hop_sources: dict[str, int] = field(default_factory=dict)
    # Hops that only happen sometimes (a TemplateResponse, an exception).
    conditional_hops: dict[str, str] = field(default_factory=dict)
    kind: str = "class"  # "mixin" | "class" | "function"
    adapter_below: AdapterKind | None = None
    forced_sync_by: str | None = None
    drags: list[str] = field(default_factory=list)
    error: str | None = None
    instance: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "path": self.path,
            "sync_capable": self.sync_capable,
            "async_capable": self.async_capable,
            "mode_under_asgi": self.mode_under_asgi,
            "hops_per_request": self.hops_per_request,
            "hooks": list(self.hooks),
            "hook_modes": dict(self.hook_modes),
            "hop_sources": dict(self.hop_sources),
            "conditional_hops": dict(self.conditional_hops),
            "kind": self.kind,
            "adapter_below": self.adapter_below,
            "forced_sync_by": self.forced_sync_by,
            "drags": list(self.drags),
            "mode_under_wsgi": self.mode_under_wsgi,
            "hops_per_request_under_wsgi": self.hops_per_request_under_wsgi,
            "error": self.error,
        }


@dataclass
class ChainReport:
    """The chain as Django builds it under ASGI, with its hop totals."""

    members: list[MiddlewareEntry]
    # Outer to inner: {"kind", "outer", "inner"}; TOP / BOTTOM name the chain's ends.
    adapters: list[dict[str, str]]
    wsgi_adapters: list[dict[str, str]]
    chain_hops: int
    # request_started's sync receivers + sync_to_async(response.close).
    handler_hops: int
    verified: bool
    # Members that could not be loaded (each also an AA106/AA109 finding).
    errors: list[str] = field(default_factory=list)
    # Why the cross-check against Django's own chain failed or could not run.
    mismatches: list[str] = field(default_factory=list)

    def per_request_hops(self, view_is_async: bool, *, template_response: bool = False) -> int:
        """Hops of a 2xx/3xx request: chain, ASGI handler, and the view's own hop if sync.

        A ``TemplateResponse`` adds one hop for its sync ``render()`` and one per sync
        ``process_template_response``. (A 4xx/5xx adds a ``log_response`` hop, and an
        exception one ``response_for_exception`` hop: not counted here.)
        """
        hops = self.chain_hops + self.handler_hops + (0 if view_is_async else 1)
        if template_response:
            hops += 1 + sum(
                1
                for m in self.members
                if m.instance is not None and "process_template_response" in m.conditional_hops
            )
        return hops

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": [m.to_dict() for m in self.members],
            "adapters": list(self.adapters),
            "wsgi_adapters": list(self.wsgi_adapters),
            "chain_hops": self.chain_hops,
            "handler_hops": self.handler_hops,
            "per_request_hops": {
                "async_view": self.per_request_hops(True),
                "sync_view": self.per_request_hops(False),
            },
            "verified": self.verified,
            "errors": list(self.errors),
            "mismatches": list(self.mismatches),
        }


@dataclass
class ChainNode:
    """One node met while walking a built ``_middleware_chain``, outer to inner."""

    kind: Literal["adapter", "member", "view dispatch", "opaque"]
    adapter: AdapterKind | None = None
    instance: Any = None
    mode: Mode | None = None


def _mode(is_async: bool) -> Mode:
    return "async" if is_async else "sync"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _kind(instance: object) -> str:
    if isinstance(instance, MiddlewareMixin):
        # Overriding __acall__ opts out of the per-hook hops; overriding only __call__ (and
        # calling super()) keeps them.
        if type(instance).__acall__ is MiddlewareMixin.__acall__:
            return "mixin"
        return "class"
    if isinstance(instance, (types.FunctionType, types.MethodType)):
        return "function"
    return "class"


def _hops(
    entry: MiddlewareEntry, server_async: bool, member_async: bool
) -> tuple[dict[str, int], dict[str, str]]:
    """Per-request hops of one member (not its adapter) and the conditional ones."""
    hops: dict[str, int] = {}
    conditional: dict[str, str] = {}
    if entry.path == TOOLBAR_MIDDLEWARE:
        _toolbar_hops(hops, conditional, server_async, member_async)
    if entry.kind == "mixin" and member_async:
        for hook in _MIXIN_HOOKS:
            # An async def hook is not a hop: sync_to_async refuses it (AA106).
            if entry.hook_modes.get(hook) == "sync":
                hops[hook] = 1
    for hook in _HANDLER_HOOKS:
        if hook not in entry.hooks:
            continue
        hook_async = entry.hook_modes[hook] == "async"
        if hook == "process_exception":
            # The exception pass is sync: under ASGI one sync_to_async for the whole pass,
            # plus an async_to_sync per async process_exception inside it.
            if server_async or hook_async:
                conditional[hook] = "only when a view raises"
        elif hook_async != server_async:
            if hook == "process_view":
                hops[hook] = 1
            else:
                conditional[hook] = "per TemplateResponse"
    return hops, conditional


def top_adapter_hops(chain: dict[str, Any]) -> int:
    """From ``ChainReport.to_dict()``: the ASGI handler's adapter hop into a sync chain top,
    made before any middleware sees the request (as the handler's own hops are)."""
    return sum(1 for a in chain.get("adapters") or () if a.get("outer") == TOP)


def _toolbar_hops(
    hops: dict[str, int], conditional: dict[str, str], server_async: bool, member_async: bool
) -> None:
    """The toolbar's middleware wraps a sync callback in ``sync_to_async`` when it runs async,
    an async one in ``async_to_sync`` when it runs sync (``get_show_toolbar``), on every
    request; shown, its SQL panel's instrumentation is one more hop under ASGI."""
    try:
        from debug_toolbar.middleware import show_toolbar_func_or_path

        callback_async = iscoroutinefunction(show_toolbar_func_or_path())
    except Exception:  # another release, or a callback path that does not import
        return
    if callback_async != member_async:
        hops["SHOW_TOOLBAR_CALLBACK"] = 1
    if server_async:
        conditional["toolbar panels"] = (
            "when the toolbar is shown (its SQL panel's instrumentation)"
        )


def _identity(obj: object) -> object:
    if isinstance(obj, types.FunctionType):
        return obj.__code__
    return type(obj)


def _inner_codes() -> frozenset[types.CodeType]:
    # convert_exception_to_response returns one of two local functions: learn their code.
    async def _async(request: Any) -> Any:  # pragma: no cover - never called
        return None

    def _sync(request: Any) -> Any:  # pragma: no cover - never called
        return None

    return frozenset(convert_exception_to_response(f).__code__ for f in (_async, _sync))


_INNER_CODES = _inner_codes()


def _next_handler(instance: object) -> Callable[..., Any] | None:
    get_response = getattr(instance, "get_response", None)
    if get_response is not None and callable(get_response):
        return get_response  # type: ignore[no-any-return]
    if isinstance(instance, types.FunctionType):
        # Function-style middleware keeps get_response in its closure.
        try:
            nonlocals = inspect.getclosurevars(instance).nonlocals
        except (TypeError, ValueError):
            return None
        found = nonlocals.get("get_response")
        if found is not None and callable(found):
            return found  # type: ignore[no-any-return]
    return None


def walk_chain(chain: object) -> list[ChainNode]:
    """Nodes of a built ``handler._middleware_chain``, outer to inner."""
    nodes: list[ChainNode] = []
    node: Any = chain
    seen: set[int] = set()
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, SyncToAsync):
            nodes.append(ChainNode("adapter", adapter="sync_to_async"))
            node = node.func
        elif isinstance(node, AsyncToSync):
            nodes.append(ChainNode("adapter", adapter="async_to_sync"))
            node = node.awaitable
        elif getattr(node, "__code__", None) in _INNER_CODES:
            node = node.__wrapped__
        elif isinstance(node, types.MethodType) and isinstance(node.__self__, BaseHandler):
            nodes.append(ChainNode("view dispatch"))
            break
        else:
            below = _next_handler(node)
            if below is None:
                nodes.append(ChainNode("opaque", instance=node))
                break
            nodes.append(ChainNode("member", instance=node, mode=_mode(iscoroutinefunction(below))))
            node = below
    return nodes


@dataclass
class _Build:
    members: list[MiddlewareEntry]
    # The adapters in build order (inner to outer), keyed by the member above them.
    chain: Any
    top_adapter: AdapterKind | None


def _adapter_kind(member_async: bool, handler_async: bool) -> AdapterKind | None:
    if member_async == handler_async:
        return None
    return "sync_to_async" if member_async else "async_to_sync"


def _build(paths: Sequence[str]) -> _Build:
    """Replay ``load_middleware(is_async=True)`` member by member, keeping going on errors."""
    base = BaseHandler()
    handler: Any = convert_exception_to_response(base._get_response_async)  # type: ignore[attr-defined]
    handler_async = True
    entries: list[MiddlewareEntry] = []
    for index in reversed(range(len(paths))):
        path = paths[index]
        entry = MiddlewareEntry(index=index, path=path)
        entries.append(entry)
        try:
            factory = import_string(path)
        except Exception as exc:  # ImportError, or any error raised by the module
            entry.mode_under_asgi = entry.mode_under_wsgi = "error"
            entry.error = f"cannot import {path!r}: {_describe(exc)}"
            continue
        entry.sync_capable = bool(getattr(factory, "sync_capable", True))
        entry.async_capable = bool(getattr(factory, "async_capable", False))
        if not entry.sync_capable and not entry.async_capable:
            entry.mode_under_asgi = entry.mode_under_wsgi = "error"
            entry.error = "sync_capable and async_capable are both False: Django refuses it"
            continue
        member_async = entry.async_capable if handler_async or not entry.sync_capable else False
        adapted = base.adapt_method_mode(member_async, handler, handler_async)
        try:
            instance = factory(adapted)
        except MiddlewareNotUsed:
            entry.mode_under_asgi = entry.mode_under_wsgi = "unused"
            continue
        except Exception as exc:
            entry.mode_under_asgi = entry.mode_under_wsgi = "error"
            entry.error = f"cannot instantiate {path!r}: {_describe(exc)}"
            continue
        if instance is None:
            entry.mode_under_asgi = entry.mode_under_wsgi = "error"
            entry.error = f"middleware factory {path!r} returned None"
            continue
        entry.instance = instance
        entry.kind = _kind(instance)
        entry.mode_under_asgi = _mode(member_async)
        entry.adapter_below = _adapter_kind(member_async, handler_async)
        for hook in HOOKS:
            method = getattr(instance, hook, None)
            if method is not None:
                entry.hooks.append(hook)
                entry.hook_modes[hook] = _mode(iscoroutinefunction(method))
        handler = convert_exception_to_response(instance)
        handler_async = member_async
    top = _adapter_kind(True, handler_async)
    handler = base.adapt_method_mode(True, handler, handler_async)
    entries.reverse()
    return _Build(members=entries, chain=handler, top_adapter=top)


def _used(members: Sequence[MiddlewareEntry]) -> list[MiddlewareEntry]:
    return [m for m in members if m.instance is not None]


def _adapters(used: Sequence[MiddlewareEntry], top: AdapterKind | None) -> list[dict[str, str]]:
    adapters: list[dict[str, str]] = []
    if top is not None:
        adapters.append({"kind": top, "outer": TOP, "inner": used[0].path if used else BOTTOM})
    for i, member in enumerate(used):
        if member.adapter_below is not None:
            inner = used[i + 1].path if i + 1 < len(used) else BOTTOM
            adapters.append({"kind": member.adapter_below, "outer": member.path, "inner": inner})
    return adapters


def _wsgi(used: Sequence[MiddlewareEntry]) -> list[dict[str, str]]:
    """Replay the mode rule for ``load_middleware(is_async=False)``: modes, adapters, hops."""
    adapters: list[dict[str, str]] = []
    handler_async = False
    below = BOTTOM
    for member in reversed(used):
        member_async = member.async_capable if handler_async or not member.sync_capable else False
        member.mode_under_wsgi = _mode(member_async)
        kind = _adapter_kind(member_async, handler_async)
        hops, _ = _hops(member, server_async=False, member_async=member_async)
        member.hops_per_request_under_wsgi = sum(hops.values()) + (1 if kind else 0)
        if kind is not None:
            adapters.append({"kind": kind, "outer": member.path, "inner": below})
        handler_async = member_async
        below = member.path
    if handler_async:
        adapters.append({"kind": "async_to_sync", "outer": "WSGIHandler", "inner": below})
    adapters.reverse()
    return adapters


def _drags(used: Sequence[MiddlewareEntry]) -> None:
    # A sync-only member makes the handler below its outer neighbour sync, so each
    # sync-capable member outside it runs sync until an async-only member breaks the run.
    for i, member in enumerate(used):
        if member.async_capable:
            continue
        for outer in reversed(used[:i]):
            if outer.mode_under_asgi != "sync":
                break
            # Another sync-only member keeps the run going; the nearest inner one claims.
            if outer.async_capable and outer.forced_sync_by is None:
                outer.forced_sync_by = member.path
                member.drags.insert(0, outer.path)  # keep MIDDLEWARE order


def _handler_hops() -> int:
    from django.core.handlers.asgi import ASGIHandler
    from django.core.signals import request_started

    try:
        sync_receivers, _ = request_started._live_receivers(ASGIHandler)
    except Exception:  # private API: fall back to Django's default receivers
        return 2
    return (1 if sync_receivers else 0) + 1


def _compare(ours: list[ChainNode], django: list[ChainNode]) -> list[str]:
    def shape(nodes: list[ChainNode]) -> list[tuple[object, ...]]:
        return [
            (n.kind, n.adapter, _identity(n.instance) if n.kind != "adapter" else None, n.mode)
            for n in nodes
        ]

    a, b = shape(ours), shape(django)
    if a == b:
        return []
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return [f"cross-check: node {i} differs from Django's chain: ours {x}, Django's {y}"]
    return [f"cross-check: chain lengths differ: ours {len(a)}, Django's {len(b)}"]


def analyse_chain(middleware: Sequence[str] | None = None, *, verify: bool = True) -> ChainReport:
    """The middleware chain under ASGI, member by member, with hops per request.

    ``middleware`` defaults to ``settings.MIDDLEWARE``. With ``verify`` the result is checked
    against the chain ``BaseHandler().load_middleware(is_async=True)`` builds (only when
    every member loads, since Django's build stops at the first broken one).
    """
    paths = list(settings.MIDDLEWARE if middleware is None else middleware)
    with warnings.catch_warnings():
        # async_to_sync warns about non-marked callables: a broken member, reported as AA106.
        warnings.simplefilter("ignore")
        build = _build(paths)
    used = _used(build.members)
    for member in used:
        hops, conditional = _hops(member, True, member.mode_under_asgi == "async")
        if member.adapter_below is not None:
            hops["adapter"] = 1
        member.hop_sources = hops
        member.conditional_hops = conditional
        member.hops_per_request = sum(hops.values())
    _drags(used)
    adapters = _adapters(used, build.top_adapter)
    wsgi_adapters = _wsgi(used)
    chain_hops = sum(m.hops_per_request for m in used) + (1 if build.top_adapter else 0)

    errors = [m.error for m in build.members if m.error]
    mismatches: list[str] = []
    verified = False
    if verify and not errors and middleware is None:
        ours = walk_chain(build.chain)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                handler = BaseHandler()
                handler.load_middleware(is_async=True)
        except Exception as exc:
            mismatches.append(f"Django could not build the chain: {_describe(exc)}")
        else:
            built = handler._middleware_chain  # type: ignore[attr-defined]
            mismatches = _compare(ours, walk_chain(built))
            verified = not mismatches
    return ChainReport(
        members=build.members,
        adapters=adapters,
        wsgi_adapters=wsgi_adapters,
        chain_hops=chain_hops,
        handler_hops=_handler_hops(),
        verified=verified,
        errors=errors,
        mismatches=mismatches,
    )


# -- findings ---------------------------------------------------------------------------------


def _is_django(path: str) -> bool:
    return path.startswith("django.")


def _aa101(m: MiddlewareEntry) -> Finding:
    drags = f"; it drags {len(m.drags)} member(s) outside it into sync mode" if m.drags else ""
    dual_mode = (
        "Make it dual-mode like django-htmx's HtmxMiddleware (sync_capable = "
        "async_capable = True, markcoroutinefunction(self) when get_response is async, an "
        "async __acall__ that awaits get_response)"
    )
    if m.drags:
        # Moving it up only helps when members outside it are dragged into sync mode.
        advice = f"{dual_mode}, or move it to the top of MIDDLEWARE so that no member outside it is dragged into sync mode."
    else:
        where = "it is already first in MIDDLEWARE" if m.index == 0 else "it drags no member"
        advice = (
            f"{dual_mode}: {where}, so moving it does not help; what it costs is the "
            "async->sync switch around it on every request."
        )
    return Finding(
        code="AA101",
        severity="warning",
        target=m.path,
        message=f"{m.path} is sync-only: under ASGI Django switches async->sync around it{drags}. {advice}",
        evidence={
            "drags": list(m.drags),
            "adapter_below": m.adapter_below,
            "hops_per_request": m.hops_per_request,
            "index": m.index,
        },
    )


def _aa102(m: MiddlewareEntry) -> Finding:
    hooks = [h for h in _MIXIN_HOOKS if h in m.hop_sources]
    n = len(hooks)
    if _is_django(m.path):
        advice = (
            "It is Django's own MiddlewareMixin class (ticket #37177): remove it from "
            "MIDDLEWARE if the project does not need it, or replace it with a dual-mode "
            "subclass that defines an async __acall__."
        )
    else:
        advice = (
            "Give it an async __acall__ that runs the hooks' work natively (or make "
            "process_request/process_response async def and drop MiddlewareMixin for a "
            "dual-mode class like django-htmx's HtmxMiddleware)."
        )
    return Finding(
        code="AA102",
        severity="warning",
        target=m.path,
        message=(
            f"{m.path} runs async under ASGI but its sync {' and '.join(hooks)} cost{'s' if n == 1 else ''} "
            f"{n} thread hop{'s' if n != 1 else ''} per request (MiddlewareMixin wraps each in "
            f"sync_to_async). {advice}"
        ),
        evidence={"hooks": hooks, "hops_per_request": n, "index": m.index},
    )


def _aa103(m: MiddlewareEntry, hooks: list[str]) -> Finding:
    per_call = {h: m.conditional_hops.get(h, "every request") for h in hooks}
    only_exception = hooks == ["process_exception"]
    if only_exception:
        advice = (
            "Django always runs process_exception synchronously (one hop for the whole "
            "exception pass), so this only costs when a view raises; nothing to change unless "
            "exceptions are frequent."
        )
    elif _is_django(m.path):
        advice = (
            "It is Django's own hook: nothing to change in your code; drop the middleware "
            "only if the project does not need it."
        )
    else:
        advice = (
            "Make the hook an async def when the member runs async (Django then awaits it "
            "directly), or drop the hook if it does not need the view."
        )
    return Finding(
        code="AA103",
        severity="warning",
        target=m.path,
        message=f"{m.path} has sync {', '.join(hooks)} under ASGI: one thread hop per call. {advice}",
        evidence={"hooks": hooks, "when": per_call, "index": m.index},
    )


def _aa106(m: MiddlewareEntry, problem: str, advice: str, *, knock_on: bool = False) -> Finding:
    evidence: dict[str, Any] = {"index": m.index, "mode_under_asgi": m.mode_under_asgi}
    if knock_on:
        evidence["knock_on"] = True  # caused by the member below: the checks show only that one
    return Finding(
        code="AA106",
        severity="error",
        target=m.path,
        message=f"{m.path} breaks under ASGI: {problem}. {advice}",
        evidence=evidence,
    )


def _aa106_unmarked(m: MiddlewareEntry) -> Finding:
    below = _next_handler(m.instance)
    if below is not None and not iscoroutinefunction(below):
        # Knock-on effect: Django wired it as async, but the member below handed it a sync
        # callable, so it cannot tell it should run async.
        return _aa106(
            m,
            "Django runs it async, but the member below it is not a coroutine function, so "
            "it gets a sync get_response and runs sync",
            "Fix the member below it (see its AA106).",
            knock_on=True,
        )
    return _aa106(
        m,
        "it declares async_capable and gets an async get_response, but the instance is not "
        "a coroutine function, so Django wraps it as sync: exceptions escape "
        "convert_exception_to_response and an outer member may await a non-awaitable",
        "Call markcoroutinefunction(self) in __init__ when get_response is async (like "
        "django-htmx's HtmxMiddleware).",
    )


def _aa109(m: MiddlewareEntry) -> Finding:
    return Finding(
        code="AA109",
        severity="error",
        target=m.path,
        message=(
            f"settings.MIDDLEWARE[{m.index}] could not be loaded: {m.error}. Fix the path or "
            "the module; Django will fail to start with it."
        ),
        evidence={"index": m.index, "error": m.error},
    )


def chain_findings(report: ChainReport) -> list[Finding]:
    """AA101, AA102, AA103 (and AA106/AA109 for broken members), in MIDDLEWARE order."""
    findings: list[Finding] = []
    for m in report.members:
        if m.error is not None:
            if m.error.startswith("sync_capable and async_capable"):
                findings.append(_aa106(m, m.error, "Set at least one of the two flags to True."))
            else:
                findings.append(_aa109(m))
            continue
        if m.instance is None:
            continue
        if not m.async_capable:
            findings.append(_aa101(m))
        if m.mode_under_asgi == "async":
            if not iscoroutinefunction(m.instance):
                findings.append(_aa106_unmarked(m))
            if m.kind == "mixin":
                async_hooks = [h for h in _MIXIN_HOOKS if m.hook_modes.get(h) == "async"]
                if async_hooks:
                    findings.append(
                        _aa106(
                            m,
                            f"MiddlewareMixin wraps {', '.join(async_hooks)} in sync_to_async, "
                            "which raises TypeError for an async def on every request",
                            "Make the hook sync, or define __acall__ and await it there.",
                        )
                    )
        if any(h in _MIXIN_HOOKS for h in m.hop_sources):
            findings.append(_aa102(m))
        sync_hooks = [h for h in _HANDLER_HOOKS if m.hook_modes.get(h) == "sync"]
        if sync_hooks:
            findings.append(_aa103(m, sync_hooks))
    return findings
