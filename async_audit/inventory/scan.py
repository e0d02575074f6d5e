"""Source scan of async views: blocking calls (AA201) and sync ORM use (AA202).

Async views are parsed with ``ast`` and the names they call are resolved against the view
module's *live* globals, so ``from time import sleep as nap`` and ``import requests as r`` are
recognised by identity rather than spelling. Functions of the project that the view calls
directly (same module, project modules, methods of the view class) are followed to a bounded
depth: a sync helper called from async code runs on the event loop too. Code handed to
``sync_to_async`` / ``asyncio.to_thread`` is passed, not called, so it is never flagged; nested
``def`` and ``lambda`` bodies are skipped for the same reason.

This is a static scan: it finds the common cases cheaply and never runs the view. The
runtime instruments (AA301, AA308) catch what it cannot see.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import sys
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.db.models import Model
from django.db.models.manager import BaseManager

from async_audit.findings import Finding
from async_audit.inventory.project import dotted_path, is_project_object, project_roots
from async_audit.inventory.views import ViewEntry

__all__ = ["Hit", "scan_function", "scan_views"]

MAX_DEPTH = 3

_HTTP = "use an async client (httpx.AsyncClient, aiohttp) or await sync_to_async(...) around it"
_FILE = "run it in a thread (await asyncio.to_thread(...)) or keep the view sync"
_PROC = "use asyncio.create_subprocess_exec / create_subprocess_shell"
_SOCK = "use asyncio.open_connection / loop.sock_* calls"
_MAIL = "await sync_to_async(...)(...) around it, or send from a task queue"
# Blocking callables by dotted name; looked up in sys.modules only (a project that calls
# requests has imported it already), and matched by identity.
_BLOCKING: dict[str, str] = {
    "time.sleep": "use await asyncio.sleep(...)",
    **{
        f"requests.{n}": _HTTP
        for n in ("get", "post", "put", "patch", "delete", "head", "options", "request")
    },
    **{
        f"httpx.{n}": _HTTP
        for n in ("get", "post", "put", "patch", "delete", "head", "options", "request", "stream")
    },
    "urllib.request.urlopen": _HTTP,
    "urllib.request.urlretrieve": _HTTP,
    "urllib3.request": _HTTP,
    "socket.create_connection": _SOCK,
    "socket.getaddrinfo": "use await loop.getaddrinfo(...)",
    "socket.gethostbyname": "use await loop.getaddrinfo(...)",
    "socket.gethostbyaddr": "use await loop.getnameinfo(...)",
    "builtins.open": _FILE,
    **{
        f"subprocess.{n}": _PROC
        for n in (
            "run",
            "call",
            "check_call",
            "check_output",
            "getoutput",
            "getstatusoutput",
            "Popen",
        )
    },
    "os.system": _PROC,
    "os.popen": _PROC,
    "os.waitpid": _PROC,
    **{f"shutil.{n}": _FILE for n in ("copy", "copy2", "copyfile", "copytree", "rmtree", "move")},
    "smtplib.SMTP": _MAIL,
    "smtplib.SMTP_SSL": _MAIL,
    **{
        f"django.core.mail.{n}": _MAIL
        for n in ("send_mail", "send_mass_mail", "mail_admins", "mail_managers")
    },
}
# Classes whose instances do blocking I/O in their methods (sessions, clients, sockets).
_CLIENT_CLASSES = (
    "requests.Session",
    "requests.sessions.Session",
    "httpx.Client",
    "socket.socket",
    "http.client.HTTPConnection",
    "http.client.HTTPSConnection",
    "urllib3.PoolManager",
    "smtplib.SMTP",
    "smtplib.SMTP_SSL",
    "ftplib.FTP",
)
_CLIENT_SAFE_METHODS = frozenset({"close", "__enter__", "mount", "setblocking", "settimeout"})

# QuerySet methods that return another lazy QuerySet, and those that hit the database.
_LAZY = frozenset({
    "all", "filter", "exclude", "order_by", "values", "values_list", "select_related",
    "prefetch_related", "annotate", "alias", "only", "defer", "distinct", "using", "none",
    "select_for_update", "reverse", "extra", "union", "intersection", "difference",
    "dates", "datetimes", "complex_filter",
})  # fmt: skip
_EVAL = frozenset({
    "get", "create", "get_or_create", "update_or_create", "count", "exists", "first",
    "last", "latest", "earliest", "aggregate", "update", "delete", "bulk_create",
    "bulk_update", "in_bulk", "iterator", "explain", "contains", "raw",
})  # fmt: skip
# The a* variants that await a single object.
_ASYNC_INSTANCE = frozenset({"aget", "acreate", "afirst", "alast", "alatest", "aearliest"})
_INSTANCE_EVAL = frozenset({
    "save", "delete", "refresh_from_db", "full_clean", "validate_unique",
    "validate_constraints",
})  # fmt: skip
# Builtins that evaluate an iterable argument.
_CONSUMERS = frozenset({
    "list", "tuple", "set", "frozenset", "dict", "sorted", "len", "bool", "sum", "any",
    "all", "max", "min", "enumerate", "zip", "map", "filter", "iter", "next",
})  # fmt: skip
_DB_SESSIONS = ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db")


@dataclass(frozen=True)
class Hit:
    code: str  # AA201 | AA202
    what: str  # e.g. "time.sleep", "QuerySet.get"
    advice: str
    file: str
    line: int
    call: str
    # The function holding the call, and the callers from the view down to it.
    function: str
    via: tuple[str, ...] = ()

    def evidence(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "call": self.call,
            "what": self.what,
            "function": self.function,
            "via": list(self.via),
        }


_MISSING = object()


@functools.cache
def _blocking() -> dict[int, tuple[str, str]]:
    found: dict[int, tuple[str, str]] = {}
    for name, advice in _BLOCKING.items():
        obj = _lookup(name)
        if obj is not _MISSING:
            found.setdefault(id(obj), (name, advice))
    return found


def _clients() -> tuple[type, ...]:
    found = [_lookup(name) for name in _CLIENT_CLASSES]
    return tuple(c for c in found if isinstance(c, type))


def _lookup(dotted: str) -> Any:
    module_name, _, attr = dotted.rpartition(".")
    module = sys.modules.get(module_name)
    if module is None:
        return _MISSING
    return getattr(module, attr, _MISSING)


_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
# Fields that hold statements (or handlers / match cases, which hold statements).
_STATEMENT_LISTS = ("body", "orelse", "finalbody", "handlers", "cases")


@functools.lru_cache(maxsize=512)
def _parse(filename: str) -> tuple[dict[tuple[str, int], _FunctionNode], list[bytes]] | None:
    """Function nodes of a file by (name, first line); a code object's first line is its
    first decorator's on 3.8+, the ``def`` line before that: index both."""
    try:
        source = Path(filename).read_text(encoding="utf-8")
        tree = ast.parse(source, filename)
    except (OSError, SyntaxError, ValueError):
        return None
    index: dict[tuple[str, int], _FunctionNode] = {}
    # A def is always a statement: walk statement lists only, not every expression node
    # (ast.walk here cost as much as the parse itself, on every manage.py command).
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            index[(node.name, node.lineno)] = node
            for decorator in node.decorator_list[:1]:
                index[(node.name, decorator.lineno)] = node
        for attr in _STATEMENT_LISTS:
            stack.extend(getattr(node, attr, ()))
    # Bytes, because AST column offsets count UTF-8 bytes.
    return index, source.encode("utf-8").splitlines()


def _segment(lines: list[bytes], node: ast.AST) -> str:
    """The node's source text (ast.get_source_segment re-splits the whole file per call)."""
    start, end = getattr(node, "lineno", 0), getattr(node, "end_lineno", None)
    col, end_col = getattr(node, "col_offset", 0), getattr(node, "end_col_offset", None)
    if not start or end is None or end_col is None or end > len(lines):
        return ast.unparse(node)
    if start == end:
        text = lines[start - 1][col:end_col]
    else:
        text = b"\n".join(
            [lines[start - 1][col:], *lines[start : end - 1], lines[end - 1][:end_col]]
        )
    return text.decode("utf-8", "replace")


def _function_node(func: Any) -> tuple[_FunctionNode, list[bytes], str] | None:
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType):
        return None
    parsed = _parse(code.co_filename)
    if parsed is None:
        return None
    index, lines = parsed
    node = index.get((code.co_name, code.co_firstlineno))
    return None if node is None else (node, lines, code.co_filename)


def _body_nodes(node: _FunctionNode) -> Iterator[ast.AST]:
    """Every node of a function body: not its decorators or defaults (they run at import),
    and not nested functions or classes (they run only if called, maybe in a thread)."""
    stack: list[ast.AST] = list(reversed(node.body))
    while stack:
        child = stack.pop()
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        yield child
        stack.extend(reversed(list(ast.iter_child_nodes(child))))


@dataclass
class _Context:
    func: Any
    node: ast.FunctionDef | ast.AsyncFunctionDef
    lines: list[bytes]
    filename: str
    owner: type | None
    via: tuple[str, ...]
    name: str
    local_names: set[str] = field(default_factory=set)
    # Local variables known to hold a QuerySet ("qs"), a model instance or a client.
    kinds: dict[str, str] = field(default_factory=dict)
    request_names: set[str] = field(default_factory=set)
    body: list[ast.AST] = field(default_factory=list)

    def text(self, node: ast.AST) -> str:
        return _segment(self.lines, node).strip()


def _resolve(ctx: _Context, expr: ast.expr) -> Any:
    """The live object an expression names, from the function's globals; _MISSING if unsure."""
    if isinstance(expr, ast.Name):
        if expr.id in ctx.local_names:
            return _MISSING
        globals_ = getattr(ctx.func, "__globals__", {})
        if expr.id in globals_:
            return globals_[expr.id]
        return getattr(builtins, expr.id, _MISSING)
    if isinstance(expr, ast.Attribute):
        if (
            isinstance(expr.value, ast.Name)
            and expr.value.id == "self"
            and ctx.owner is not None
            and "self" in ctx.local_names
        ):
            return inspect.getattr_static(ctx.owner, expr.attr, _MISSING)
        base = _resolve(ctx, expr.value)
        # Only modules and classes: getattr on other objects could run arbitrary properties.
        if isinstance(base, (types.ModuleType, type)):
            try:
                return getattr(base, expr.attr, _MISSING)
            except Exception:
                return _MISSING
    return _MISSING


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, Model)


def _kind(ctx: _Context, expr: ast.expr) -> str | None:
    """'model', 'qs', 'instance', 'client', 'eval:<what>' (a DB hit) or None."""
    if isinstance(expr, ast.Name) and expr.id in ctx.kinds:
        return ctx.kinds[expr.id]
    if isinstance(expr, ast.Await):
        inner = expr.value
        if (
            isinstance(inner, ast.Call)
            and isinstance(inner.func, ast.Attribute)
            and inner.func.attr in _ASYNC_INSTANCE
            and _kind(ctx, inner.func.value) == "qs"
        ):
            return "instance"
        return None
    if isinstance(expr, ast.Attribute):
        if isinstance(expr.value, ast.Name) and expr.value.id not in ctx.kinds:
            owner = _resolve(ctx, expr.value)
            if _is_model(owner):
                manager = getattr(owner, expr.attr, None)
                return "qs" if isinstance(manager, BaseManager) else None
        return None
    if isinstance(expr, ast.Call):
        func = expr.func
        target = _resolve(ctx, func)
        if _is_model(target):
            return "instance"
        if isinstance(target, type) and issubclass(target, _clients()):
            return "client"
        if isinstance(func, ast.Attribute):
            base = _kind(ctx, func.value)
            if base == "qs":
                if func.attr in _LAZY:
                    return "qs"
                if func.attr in _EVAL:
                    return f"eval:QuerySet.{func.attr}"
            elif base == "instance" and func.attr in _INSTANCE_EVAL:
                return f"eval:Model.{func.attr}"
            elif base == "client" and func.attr not in _CLIENT_SAFE_METHODS:
                return f"client:{func.attr}"
    if isinstance(expr, ast.Subscript) and _kind(ctx, expr.value) == "qs":
        return "eval:QuerySet[...]"
    return None


def _local_names(node: _FunctionNode, body: list[ast.AST]) -> set[str]:
    args = node.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    for child in body:
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
            names.add(child.id)
    return names


def _track_assignments(ctx: _Context) -> None:
    # Two passes so that "qs = X.objects.all(); qs2 = qs.filter()" resolves regardless of
    # walk order; flow-insensitive on purpose (cheap, and right for straight-line views).
    for _ in range(2):
        for child in ctx.body:
            targets: list[ast.expr] = []
            value: ast.expr | None = None
            if isinstance(child, ast.Assign):
                targets, value = child.targets, child.value
            elif isinstance(child, ast.AnnAssign) and child.value is not None:
                targets, value = [child.target], child.value
            elif isinstance(child, ast.withitem) and child.optional_vars is not None:
                targets, value = [child.optional_vars], child.context_expr
            if value is None:
                continue
            kind = _kind(ctx, value)
            if kind in ("qs", "instance", "client"):
                for t in targets:
                    if isinstance(t, ast.Name):
                        ctx.kinds[t.id] = kind


def _request_names(ctx: _Context) -> set[str]:
    # Only the view itself is known to receive the request as its first argument.
    args = [a.arg for a in ctx.node.args.args]
    if ctx.owner is not None and args[:1] == ["self"]:
        args = args[1:]
    return {args[0]} if args and not ctx.via else set()


def _is_request(ctx: _Context, expr: ast.expr) -> bool:
    if isinstance(expr, ast.Name):
        return expr.id in ctx.request_names
    # self.request in a class-based view's handler
    return (
        ctx.owner is not None
        and isinstance(expr, ast.Attribute)
        and expr.attr == "request"
        and isinstance(expr.value, ast.Name)
        and expr.value.id == "self"
    )


def _evaluated(ctx: _Context) -> Iterator[ast.expr]:
    """Expressions in a position that evaluates a QuerySet (iteration, list(), if ...)."""
    for child in ctx.body:
        if isinstance(child, ast.For) or (
            isinstance(child, ast.comprehension) and not child.is_async
        ):
            yield child.iter
        elif isinstance(child, (ast.If, ast.While, ast.IfExp)):
            yield child.test
        elif isinstance(child, ast.Compare) and any(
            isinstance(op, (ast.In, ast.NotIn)) for op in child.ops
        ):
            yield from child.comparators
        elif (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Name)
            and child.func.id in _CONSUMERS
            and _resolve(ctx, child.func) is getattr(builtins, child.func.id, None)
        ):
            yield from child.args


def _hits(ctx: _Context) -> Iterator[Hit]:
    def hit(code: str, what: str, advice: str, node: ast.AST) -> Hit:
        line = getattr(node, "lineno", 0)
        return Hit(code, what, advice, ctx.filename, line, ctx.text(node), ctx.name, ctx.via)

    orm_advice = (
        "use the async ORM API (aget, acount, acreate, asave, async for ...) or wrap the "
        "query in await sync_to_async(...)"
    )
    blocking = _blocking()
    for child in ctx.body:
        if isinstance(child, ast.Call):
            kind = _kind(ctx, child)
            if kind is not None and kind.startswith("eval:"):
                yield hit("AA202", kind[5:], orm_advice, child)
                continue
            if kind is not None and kind.startswith("client:"):
                yield hit("AA201", f"blocking client .{kind[7:]}()", _HTTP, child)
                continue
            target = _resolve(ctx, child.func)
            if target is not _MISSING and id(target) in blocking:
                name, advice = blocking[id(target)]
                yield hit("AA201", name.removeprefix("builtins."), advice, child)
            elif isinstance(target, types.MethodType) and isinstance(target.__self__, _clients()):
                yield hit("AA201", f"blocking client .{target.__name__}()", _HTTP, child)
        elif (
            isinstance(child, ast.Attribute)
            and isinstance(child.value, ast.Attribute)
            and _is_request(ctx, child.value.value)
        ):
            attr = child.value.attr
            if attr == "user":
                yield hit(
                    "AA202",
                    "request.user",
                    "request.user loads the user with the sync ORM on first use: use "
                    "user = await request.auser()",
                    child,
                )
            elif attr == "session" and settings.SESSION_ENGINE in _DB_SESSIONS:
                yield hit(
                    "AA202",
                    "request.session",
                    "the database session backend loads the session with the sync ORM: use "
                    "the session's async methods (aget, aset, ...) or a cache/signed-cookie "
                    "session backend",
                    child,
                )
    for expr in _evaluated(ctx):
        if _kind(ctx, expr) == "qs":
            yield hit("AA202", "QuerySet evaluated", orm_advice, expr)


def _callees(ctx: _Context, roots: tuple[Path, ...]) -> list[Any]:
    """Project functions this function calls directly (their bodies run in its thread)."""
    calls = sorted(
        (c for c in ctx.body if isinstance(c, ast.Call)),
        key=lambda c: (c.lineno, c.col_offset),
    )
    callees: list[Any] = []
    for call in calls:
        target = _resolve(ctx, call.func)
        if isinstance(target, (staticmethod, classmethod)):
            target = target.__func__
        if isinstance(target, types.FunctionType) and is_project_object(target, roots):
            callees.append(target)
    return callees


def scan_function(
    func: Any,
    *,
    owner: type | None = None,
    depth: int = 0,
    via: tuple[str, ...] = (),
    seen: set[Any] | None = None,
    roots: tuple[Path, ...] | None = None,
) -> list[Hit]:
    """Hits in ``func`` (run on the event loop) and in project functions it calls."""
    seen = set() if seen is None else seen
    roots = project_roots() if roots is None else roots
    func = inspect.unwrap(func)
    code = getattr(func, "__code__", None)
    if code is None or code in seen:
        return []
    seen.add(code)
    found = _function_node(func)
    if found is None:
        return []
    node, lines, filename = found
    name = dotted_path(func)
    ctx = _Context(func, node, lines, filename, owner, via, name)
    ctx.body = list(_body_nodes(node))
    ctx.local_names = _local_names(node, ctx.body)
    ctx.request_names = _request_names(ctx)
    _track_assignments(ctx)
    hits = sorted(_hits(ctx), key=lambda h: h.line)
    if depth < MAX_DEPTH:
        for callee in _callees(ctx, roots):
            hits.extend(
                scan_function(
                    callee,
                    owner=owner if _is_method_of(callee, owner) else None,
                    depth=depth + 1,
                    via=(*via, name),
                    seen=seen,
                    roots=roots,
                )
            )
    return hits


def _is_method_of(func: Any, owner: type | None) -> bool:
    if owner is None:
        return False
    return any(
        getattr(vars(k).get(func.__name__), "__func__", vars(k).get(func.__name__)) is func
        for k in owner.__mro__
    )


def _targets(entry: ViewEntry) -> Iterator[tuple[Any, type | None]]:
    if entry.kind == "class" and isinstance(entry.target, type):
        for method in getattr(entry.target, "http_method_names", ()):
            handler = getattr(entry.target, method, None)
            if handler is not None and method != "options" and iscoroutinefunction(handler):
                yield handler, entry.target
    elif iscoroutinefunction(entry.target):
        yield entry.target, None


def _finding(entry: ViewEntry, hit: Hit) -> Finding:
    where = f"{Path(hit.file).name}:{hit.line}"
    chain = f" in {hit.function} (called via {' -> '.join(hit.via)})" if hit.via else ""
    if hit.code == "AA201":
        severity: Any = "warning"
        message = (
            f"{entry.view} calls {hit.what} on the event loop at {where}{chain}: "
            f"`{hit.call}` blocks every request on this worker; {hit.advice}."
        )
    else:
        severity = "error"
        message = (
            f"{entry.view} uses the sync ORM in async code at {where}{chain}: `{hit.call}` "
            f"raises SynchronousOnlyOperation; {hit.advice}."
        )
    return Finding(
        code=hit.code,
        severity=severity,
        target=entry.view,
        route=entry.route,
        view=entry.view,
        message=message,
        evidence=hit.evidence(),
    )


def scan_views(views: Iterable[ViewEntry]) -> list[Finding]:
    """AA201/AA202 for every async project view, one finding per call site and route."""
    roots = project_roots()
    findings: list[Finding] = []
    cache: dict[Any, list[Hit]] = {}
    for entry in views:
        if not entry.is_async or not entry.project:
            continue
        for func, owner in _targets(entry):
            key = (func, owner)
            if key not in cache:
                cache[key] = scan_function(func, owner=owner, roots=roots)
            findings.extend(_finding(entry, hit) for hit in cache[key])
    return findings
