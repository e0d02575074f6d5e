from __future__ import annotations

from django.conf.urls.i18n import i18n_patterns
from django.urls import include, path

from tests.inventory import views

urlpatterns = [path("x/", include(i18n_patterns(path("a/", views.plain))))]
