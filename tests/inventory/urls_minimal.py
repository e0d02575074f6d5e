"""The two routes the hop counts are measured on: one sync view, one async view."""

from __future__ import annotations

from django.urls import path

from tests.inventory import views

urlpatterns = [
    path("sync/", views.hello_sync, name="sync"),
    path("async/", views.hello_async, name="async"),
    path("template/", views.template_sync, name="template"),
]
