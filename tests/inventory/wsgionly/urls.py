"""A project served by WSGI only (no asgi.py next to it) that has an async view."""

from __future__ import annotations

from django.db import transaction
from django.urls import path

from tests.inventory import views

urlpatterns = [
    path("clean/", views.clean),
    path("exempt/", transaction.non_atomic_requests(views.with_arg)),
    path("plain/", views.plain),
]
