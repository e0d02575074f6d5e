"""Sync-only class-based views whose sync dispatch is Django's own, not DRF's (AA204)."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.views import View


class LoginRequiredPage(LoginRequiredMixin, View):
    """Sync-only through a Django mixin's sync dispatch."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("members only")


class ProjectLoginView(LoginView):
    """A Django generic view whose own dispatch (decorated) is sync."""
