"""Middleware shapes the chain analysis must get right, one small class or function each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware
from django.utils.deprecation import MiddlewareMixin


class DualMode:
    """django-htmx style: runs in whatever mode the handler below has, no hop of its own."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[..., Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = await self.get_response(request)
        return response


class OtherDualMode(DualMode):
    pass


class SyncOnly:
    """Only ``__call__``, no flags: Django's default is sync_capable=True, async_capable=False."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)


class AsyncOnly:
    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponse]]) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        return await self.get_response(request)


class RequestHook(MiddlewareMixin):
    """A MiddlewareMixin with one hook: one hop in async mode, none in sync mode."""

    def process_request(self, request: HttpRequest) -> None:
        return None


class ViewHook(MiddlewareMixin):
    """Only a sync process_view: no mixin hop, one adapted process_view call per request."""

    def process_view(self, request: HttpRequest, *args: Any) -> None:
        return None


class AsyncViewHook(DualMode):
    async def process_view(self, request: HttpRequest, *args: Any) -> None:
        return None


class ExceptionHook(DualMode):
    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        return None


class OwnAcall(MiddlewareMixin):
    """A MiddlewareMixin subclass with its own ``__acall__``: the per-hook hops are gone."""

    def process_request(self, request: HttpRequest) -> None:
        return None

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = await self.get_response(request)
        return response


class AsyncHookInMixin(MiddlewareMixin):
    """Broken: MiddlewareMixin passes this async def to sync_to_async (TypeError per request)."""

    async def process_request(self, request: HttpRequest) -> None:
        return None


class ForgetsToMark:
    """Broken: says async_capable but is not a coroutine function in async mode."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[..., Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)


class Unused:
    def __init__(self, get_response: Callable[..., Any]) -> None:
        raise MiddlewareNotUsed("switched off by settings")


class NoMode:
    sync_capable = False
    async_capable = False


class Explodes:
    def __init__(self, get_response: Callable[..., Any]) -> None:
        raise RuntimeError("misconfigured: FOO_API_KEY is missing")


def sync_function(get_response: Callable[[HttpRequest], HttpResponse]) -> Any:
    """Function-style middleware, no flags: sync-only."""

    def middleware(request: HttpRequest) -> HttpResponse:
        return get_response(request)

    return middleware


@sync_and_async_middleware
def dual_function(get_response: Callable[..., Any]) -> Any:
    if iscoroutinefunction(get_response):

        async def amiddleware(request: HttpRequest) -> HttpResponse:
            response: HttpResponse = await get_response(request)
            return response

        return amiddleware

    def middleware(request: HttpRequest) -> HttpResponse:
        response: HttpResponse = get_response(request)
        return response

    return middleware


class TemplateHook(MiddlewareMixin):
    def process_template_response(self, request: HttpRequest, response: Any) -> Any:
        return response
