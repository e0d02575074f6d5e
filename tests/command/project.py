"""A small project with known findings, for ``manage.py async_audit`` tests.

Settings: tests.command.settings. Every view's expected findings are in EXPECTED.
"""

from __future__ import annotations

import os
import time
import urllib.request

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.urls import path


def _upstream() -> str:
    return os.environ.get("AA_UPSTREAM", "http://127.0.0.1:9")


class SyncOnlyMiddleware:
    """Old-style: sync only (AA101), drags every member outside it into sync."""

    sync_capable, async_capable = True, False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)


def fanout(request: HttpRequest) -> HttpResponse:
    for i in range(3):
        with urllib.request.urlopen(f"{_upstream()}/slow/40/{i}") as r:
            r.read()
    return HttpResponse("fanout")


def cpu(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(sum(i * i % 7 for i in range(200_000))))


async def blocking(request: HttpRequest) -> HttpResponse:
    time.sleep(0.02)
    return HttpResponse("blocked")


async def sync_orm(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(User.objects.count()))


async def fine(request: HttpRequest) -> HttpResponse:
    return HttpResponse("fine")


async def offsite(request: HttpRequest) -> HttpResponse:
    # Never reaches the network in a probe: the guard refuses before any packet is sent.
    urllib.request.urlopen("http://192.0.2.1/")
    return HttpResponse("unreachable")


urlpatterns = [
    path("fanout/", fanout),
    path("cpu/", cpu),
    path("blocking/", blocking),
    path("sync-orm/", sync_orm),
    path("fine/", fine),
    path("offsite/", offsite),
    path("items/<int:pk>/", fine),
]

V = "tests.command.project."
# (code, target) per finding, static and from probing every argument-less route.
EXPECTED_STATIC = {
    ("AA101", "tests.command.project.SyncOnlyMiddleware"),
    ("AA102", "django.contrib.sessions.middleware.SessionMiddleware"),
    ("AA201", V + "blocking"),
    ("AA201", V + "offsite"),
    ("AA202", V + "sync_orm"),
}
EXPECTED_RUNTIME = {
    ("AA305", V + "fanout"),
    ("AA306", V + "fanout"),
    ("AA307", V + "cpu"),
    ("AA301", V + "blocking"),
    ("AA308", V + "sync_orm"),
}
