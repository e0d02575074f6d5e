from __future__ import annotations

from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from tests.testapp import views

urlpatterns = [
    path("", views.home, name="home"),
    path("sync/", views.sync_view, name="sync"),
    path("async/", views.async_view, name="async"),
    path("sync-sleep/", views.sync_sleep, name="sync-sleep"),
    path("async-sleep/", views.async_sleep, name="async-sleep"),
    path("async-sync-orm/", views.async_sync_orm, name="async-sync-orm"),
    path("pairs/fanout/sync/", views.fanout_sync),
    path("pairs/fanout/async/", views.fanout_async),
    path("pairs/slow/sync/", views.slow_sync),
    path("pairs/slow/async/", views.slow_async),
    path("pairs/cpu/sync/", views.cpu_sync),
    path("pairs/cpu/async/", views.cpu_async),
    path("pairs/db/sync/", views.db_sync),
    path("pairs/db/async/", views.db_async),
    path("one-orm-async/", views.one_orm_async),
    path("hop-heavy-async/", views.hop_heavy_async),
    path("gathered-hops-async/", views.gathered_hops_async),
    path("tagged/sync/<int:rid>/", views.sync_tagged, name="sync-tagged"),
    path("tagged/async/<int:rid>/", views.async_tagged, name="async-tagged"),
    path("secrets/", csrf_exempt(views.secrets_sync)),
]
