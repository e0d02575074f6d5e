from __future__ import annotations

import asyncio
import functools
import sys
from types import FrameType
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application
from django.test import override_settings

from async_audit.asgi_client import asgi_request
from async_audit.instruments import hops
from async_audit.trace import Trace, stack, traced
from async_audit.trace.asgi import TracedASGIApp
from async_audit.trace.events import Frame
from tests.settings import MIDDLEWARE

pytestmark = pytest.mark.usefixtures("installed")


class UserMiddleware:
    """A project's own async middleware: Django's hops inside it belong to its line."""

    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    async def __call__(self, request: Any) -> Any:
        return await self.get_response(request)


def _checked_call_sites(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Frame | None, Frame | None]]:
    """Every hop's site twice: remembered (as recorded) and from a fresh walk."""
    pairs: list[tuple[Frame | None, Frame | None]] = []
    real = stack.call_site

    def both(frame: FrameType | None, max_depth: int = 64, memo: Any = None) -> Frame | None:
        fresh = real(frame, max_depth)
        remembered = real(frame, max_depth, memo)
        pairs.append((remembered, fresh))
        return remembered

    monkeypatch.setattr(hops, "call_site", both)
    return pairs


@pytest.mark.parametrize("path", ["/async/", "/sync/", "/async-sync-orm/", "/hop-heavy-async/"])
def test_remembered_call_sites_are_the_ones_a_fresh_walk_finds(monkeypatch, path):
    pairs = _checked_call_sites(monkeypatch)
    middleware = ["tests.trace.test_stack.UserMiddleware", *MIDDLEWARE[:3], *MIDDLEWARE[3:]]
    traces: list[Trace] = []
    with override_settings(MIDDLEWARE=middleware):
        app = TracedASGIApp(get_asgi_application(), traces.append)

        async def main() -> None:
            for _ in range(2):
                await asgi_request(app, path)

        asyncio.run(main())
    assert len(traces) == 2 and len(pairs) >= 2 * 14
    assert [remembered for remembered, _ in pairs] == [fresh for _, fresh in pairs]
    # The hooks of Django's middleware inside the project's one point at the project's line.
    security = next(
        h for h in traces[1].hops if h.target.endswith("SecurityMiddleware.process_request")
    )
    assert security.site is not None and security.site[0] == __file__
    assert security.site[2] == "__call__"


def test_a_finished_trace_lets_go_of_the_frames_it_walked(monkeypatch):
    sizes: list[int] = []
    real = stack.call_site

    def measured(frame: FrameType | None, max_depth: int = 64, memo: Any = None) -> Frame | None:
        site = real(frame, max_depth, memo)
        sizes.append(len(memo or ()))
        return site

    monkeypatch.setattr(hops, "call_site", measured)
    traces: list[Trace] = []

    async def main() -> None:
        await asgi_request(TracedASGIApp(get_asgi_application(), traces.append), "/async/")

    asyncio.run(main())
    assert max(sizes) > 0
    assert traces[0].site_memo == {}


def test_a_generator_resumed_from_two_places_is_walked_afresh_each_time(monkeypatch):
    memo: stack.SiteMemo = {}

    def library_generator() -> Any:
        while True:
            yield stack.call_site(sys._getframe(), memo=memo)

    # Classified as Django's, so the walk goes on to whoever resumed it.
    monkeypatch.setitem(stack._code_class, id(library_generator.__code__), stack._DJANGO)
    sites = library_generator()

    def first_caller() -> Frame | None:
        return next(sites)

    def second_caller() -> Frame | None:
        return next(sites)

    first, second = first_caller(), second_caller()
    assert first is not None and first[2] == "first_caller"
    assert second is not None and second[2] == "second_caller"


def test_a_method_is_named_by_its_own_class_after_its_base_was_named():
    class Base:
        def hook(self) -> None:
            pass

        @classmethod
        def build(cls) -> None:
            pass

    class Child(Base):
        pass

    assert hops.target_name(Base().hook).endswith("Base.hook")
    assert hops.target_name(Child().hook).endswith("Child.hook")
    assert hops.target_name(Base.build).endswith("<locals>.Base.build")
    # A classmethod keeps its qualified name, as before names were remembered.
    assert hops.target_name(Child.build).endswith("<locals>.Base.build")


def test_functions_sharing_their_code_are_named_by_what_they_do():
    def decorate(view: Any) -> Any:
        @functools.wraps(view)
        def wrapper(*args: Any) -> Any:
            return view(*args)

        return wrapper

    def orders() -> None:
        pass

    def invoices() -> None:
        pass

    def make_closure(n: int) -> Any:
        def counted() -> int:
            return n

        return counted

    # Both wrappers run one code object: each is named by the view it wraps, every time.
    for _ in range(2):
        assert hops.target_name(decorate(orders)).endswith("<locals>.orders")
        assert hops.target_name(decorate(invoices)).endswith("<locals>.invoices")
    # Closures of one ``def`` are one function to name.
    assert hops.target_name(make_closure(1)) == hops.target_name(make_closure(2))
    assert hops.target_name(make_closure(1)).endswith("make_closure.<locals>.counted")
    # The same view in two apps: code objects equal to each other (their equality ignores
    # the file), each named by its own module, whichever was named first.
    views = []
    for app in ("shop", "blog"):
        module = {"__name__": f"{app}.views"}
        exec(compile("def index(request):\n    return 1\n", f"{app}/views.py", "exec"), module)
        views.append(module["index"])
    assert views[0].__code__ == views[1].__code__
    for _ in range(2):
        assert [hops.target_name(v) for v in views] == ["shop.views.index", "blog.views.index"]
    # A qualified name set by hand on one of two functions of one code.
    renamed = make_closure(3)
    renamed.__qualname__ = "Renamed"
    assert hops.target_name(renamed).endswith(".Renamed")
    assert hops.target_name(make_closure(4)).endswith("make_closure.<locals>.counted")


def test_hops_made_from_one_project_frame_carry_each_its_own_line():
    noop = sync_to_async(lambda: None)

    async def view() -> None:
        await noop()  # walked, then remembered
        await noop()
        await noop()

    remembered: list[bool] = []

    async def main() -> Trace:
        with traced() as trace:
            await view()
            # The view's frame answered for itself, rather than being walked at every hop.
            remembered.append(any(f.f_code is view.__code__ for f in trace.site_memo))
        return trace

    trace = asyncio.run(main())
    assert remembered == [True]
    sites = [hop.site for hop in trace.hops]
    assert [s[0] for s in sites if s] == [__file__] * 3
    assert [s[2] for s in sites if s] == ["view"] * 3
    first = sites[0][1]  # type: ignore[index]
    assert [s[1] for s in sites if s] == [first, first + 1, first + 2]


def _counting() -> int:
    total = 0
    for i in range(3):
        total += i
    return total


def test_a_frame_sampled_on_an_instruction_without_a_line_gets_the_line_before_it():
    # A stall sampled at a loop's jump back has f_lineno None: the site read "work.py:None".
    from types import SimpleNamespace

    from async_audit.trace.stack import frame_site

    code = _counting.__code__
    body = {line for _, _, line in code.co_lines() if line is not None}
    last = max(start for start, _, _ in code.co_lines())
    fake = SimpleNamespace(f_code=code, f_lasti=last, f_lineno=None)
    filename, line, name = frame_site(fake)  # type: ignore[arg-type]
    assert (filename, name) == (code.co_filename, "_counting")
    assert isinstance(line, int) and line in body
