"""A project for the command's edges: the root route, login redirects, APPEND_SLASH, a
locale prefix, a non-ASCII path, a view that raises. Settings: tests.command.settings_edges.
"""

from __future__ import annotations

import time

from django.conf.urls.i18n import i18n_patterns
from django.contrib.auth.decorators import login_required, user_passes_test
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path


async def home(request: HttpRequest) -> HttpResponse:
    time.sleep(0.02)  # blocks the loop: AA301 on the root route
    return HttpResponse("home")


@login_required
def private(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello {request.user.get_username()}")


def login_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("log in")


def docs(request: HttpRequest) -> HttpResponse:
    return HttpResponse("docs")


def cafe(request: HttpRequest) -> HttpResponse:
    return HttpResponse("café")


def moved(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect("/docs/")  # a GET sent elsewhere: the page is not shown


@user_passes_test(lambda u: u.is_staff, login_url="/denied/")
def staff(request: HttpRequest) -> HttpResponse:
    return HttpResponse("staff only")


def save(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect("/docs/")  # after a POST: the view's work, done


def boom(request: HttpRequest) -> HttpResponse:
    raise ValueError("card 4111-1111-1111-1111 of alice@example.com")


def shop(request: HttpRequest) -> HttpResponse:
    return HttpResponse("shop")


urlpatterns = [
    path("", home),
    path("private/", private),
    path("login/", login_page),
    path("docs/", docs),
    path("café/", cafe),
    path("moved/", moved),
    path("staff/", staff),
    path("save/", save),
    path("boom/", boom),
    *i18n_patterns(path("shop/", shop)),
]
