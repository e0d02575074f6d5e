"""Views the inventory and the source scan must get right; line numbers matter to tests."""

from __future__ import annotations

import functools
import subprocess
import time
from collections.abc import Callable
from time import sleep as nap
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.template.response import TemplateResponse
from django.views import View

from tests.inventory import helpers


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("plain")


async def clean(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    count = await User.objects.filter(is_active=True).acount()
    names = [u.username async for u in User.objects.all()]
    await sync_to_async(time.sleep)(0)
    first = await sync_to_async(lambda: list(User.objects.all()))()
    return HttpResponse(f"{user} {count} {names} {first}")


async def blocking(request: HttpRequest) -> HttpResponse:
    time.sleep(0.01)
    nap(0.01)
    with open(__file__) as f:
        f.read()
    subprocess.run(["true"], check=False)
    return HttpResponse("blocking")


async def sync_orm(request: HttpRequest) -> HttpResponse:
    user = User.objects.get(pk=1)
    total = User.objects.filter(is_active=True).count()
    active = User.objects.filter(is_active=True)
    for u in active:
        print(u)
    names = list(User.objects.values_list("username", flat=True))
    fresh = User(username="x")
    fresh.save()
    fetched = await User.objects.aget(pk=1)
    fetched.delete()
    if request.user.is_authenticated:
        pass
    return HttpResponse(f"{user} {total} {names}")


async def calls_helpers(request: HttpRequest) -> HttpResponse:
    local_helper()
    await helpers.fetch_remote()
    await sync_to_async(helpers.slow_report)()
    return HttpResponse("helpers")


def local_helper() -> None:
    helpers.count_users()


def hides_async(view: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator that is not async-aware: its sync wrapper hides an async view."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return view(request, *args, **kwargs)

    return wrapper


def blocks_loop(view: Callable[..., Any]) -> Callable[..., Any]:
    """The reverse: an async wrapper that calls a sync view on the event loop."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return view(request, *args, **kwargs)

    return wrapper


def mode_aware(view: Callable[..., Any]) -> Callable[..., Any]:
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def awrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            return await view(request, *args, **kwargs)

        return awrapper

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return view(request, *args, **kwargs)

    return wrapper


@hides_async
async def hidden(request: HttpRequest) -> HttpResponse:
    return HttpResponse("hidden")


@blocks_loop
def loop_blocker(request: HttpRequest) -> HttpResponse:
    return HttpResponse("loop blocker")


@mode_aware
@login_required
async def decorated(request: HttpRequest) -> HttpResponse:
    time.sleep(0)
    return HttpResponse("decorated")


class SyncPage(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("sync page")

    def post(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("sync page")


class AsyncPage(View):
    async def get(self, request: HttpRequest) -> HttpResponse:
        self.helper()
        if self.request.user.is_staff:
            pass
        return HttpResponse("async page")

    def helper(self) -> None:
        User.objects.count()


class SyncDispatchAPI(View):
    """Like Django REST framework's APIView: dispatch is sync whatever the handlers."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        handler = getattr(self, request.method.lower() if request.method else "get")
        return handler(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("api")


class AsyncHandlersSyncDispatch(SyncDispatchAPI):
    async def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("broken api")


class Callable_:
    """A callable instance used as a view."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("instance")


async def with_arg(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(str(pk))


def markcoroutine_view(request: HttpRequest) -> Any:
    async def inner() -> HttpResponse:
        return HttpResponse("marked")

    return inner()


markcoroutinefunction(markcoroutine_view)


def hello_sync(request: HttpRequest) -> HttpResponse:
    return HttpResponse("sync")


async def hello_async(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async")


def template_sync(request: HttpRequest) -> TemplateResponse:
    return TemplateResponse(request, engines["django"].from_string("hello"))
