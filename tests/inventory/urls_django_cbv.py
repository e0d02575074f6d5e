"""Sync-only class-based views whose sync dispatch comes from Django itself (AA204)."""

from __future__ import annotations

from django.urls import path

from tests.inventory import views, views_django_cbv

urlpatterns = [
    path("members/", views_django_cbv.LoginRequiredPage.as_view()),
    path("login/", views_django_cbv.ProjectLoginView.as_view()),
    path("legacy/", views.SyncDispatchAPI.as_view()),
]
