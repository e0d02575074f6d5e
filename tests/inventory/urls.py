"""URLconf for the inventory tests: every kind of pattern Django has."""

from __future__ import annotations

from django.conf.urls.i18n import i18n_patterns
from django.urls import include, path, re_path

from tests.inventory import views

api_patterns = (
    [
        path("items/<int:pk>/", views.with_arg, name="item-detail"),
        re_path(r"^legacy/(?P<slug>[-\w]+)/$", views.SyncDispatchAPI.as_view(), name="legacy"),
        path("broken/", views.AsyncHandlersSyncDispatch.as_view(), name="broken"),
    ],
    "api",
)

nested = [
    path("deep/", include(([path("x/", views.plain, name="x")], "deep"), namespace="deep")),
]

app_patterns = [
    path("plain/", views.plain, name="plain"),
    path("clean/", views.clean, name="clean"),
    path("blocking/", views.blocking),
    path("sync-orm/", views.sync_orm, name="sync-orm"),
    path("helpers/", views.calls_helpers),
    path("hidden/", views.hidden, name="hidden"),
    path("loop-blocker/", views.loop_blocker),
    path("decorated/", views.decorated, name="decorated"),
    path("sync-page/", views.SyncPage.as_view(), name="sync-page"),
    path("async-page/", views.AsyncPage.as_view(), name="async-page"),
    path("instance/", views.Callable_()),
    path("marked/", views.markcoroutine_view),
    path("api/", include(api_patterns)),
    path("outer/", include((nested, "outer"))),
    re_path(r"^re/(\d+)/$", views.plain),
]

urlpatterns = [*app_patterns, *i18n_patterns(path("about/", views.plain, name="about"))]
