"""A URLconf whose include fails: a view module that cannot be imported."""

from __future__ import annotations

from django.urls import include, path

from tests.inventory import views

urlpatterns = [
    path("ok/", views.plain),
    path("shop/", include("tests.inventory.urls_broken_shop")),
]
