from __future__ import annotations

from django.urls import path

from tests.inventory import views_missing_dependency

urlpatterns = [path("", views_missing_dependency.index)]
