from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse


def sync_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("sync")


async def async_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async")


def sync_sleep(request: HttpRequest) -> HttpResponse:
    time.sleep(0.03)
    return HttpResponse("slept")


async def async_sleep(request: HttpRequest) -> HttpResponse:
    time.sleep(0.03)  # blocks the event loop: the instruments must point here
    return HttpResponse("slept")
