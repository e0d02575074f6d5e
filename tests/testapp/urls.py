from __future__ import annotations

from django.urls import path

from tests.testapp import views

urlpatterns = [
    path("sync/", views.sync_view, name="sync"),
    path("async/", views.async_view, name="async"),
    path("sync-sleep/", views.sync_sleep, name="sync-sleep"),
    path("async-sleep/", views.async_sleep, name="async-sleep"),
    path("async-sync-orm/", views.async_sync_orm, name="async-sync-orm"),
    path("tagged/sync/<int:rid>/", views.sync_tagged, name="sync-tagged"),
    path("tagged/async/<int:rid>/", views.async_tagged, name="async-tagged"),
]
