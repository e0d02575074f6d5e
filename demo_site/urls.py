"""Every demo page takes no URL argument, so ``manage.py async_audit --probe-all`` hits all."""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import path

from demo_site.shop.views import good, hops, index, mistakes, paired

urlpatterns = [
    path("", index.index, name="index"),
    path("fanout/sync/", paired.fanout_sync, name="fanout-sync"),
    path("fanout/async/", paired.fanout_async, name="fanout-async"),
    path("slow-call/sync/", paired.slow_call_sync, name="slow-call-sync"),
    path("slow-call/async/", paired.slow_call_async, name="slow-call-async"),
    path("cpu/sync/", paired.cpu_sync, name="cpu-sync"),
    path("cpu/async/", paired.cpu_async, name="cpu-async"),
    path("db/sync/", paired.products_sync, name="products-sync"),
    path("db/async/", paired.products_async, name="products-async"),
    path("mistakes/blocking-call/", mistakes.blocking_call, name="blocking-call"),
    path("mistakes/loop-stall/", mistakes.loop_stall, name="loop-stall"),
    path("mistakes/sync-orm/", mistakes.sync_orm, name="sync-orm"),
    path(
        "mistakes/hidden-by-decorator/",
        mistakes.hidden_by_decorator,
        name="hidden-by-decorator",
    ),
    path("mistakes/async-wrapper/", mistakes.sync_view_in_async_wrapper, name="async-wrapper"),
    path("hops/n-plus-one/", hops.review_counts, name="review-counts"),
    path("hops/gathered-sync-calls/", hops.gathered_sync_calls, name="gathered-sync-calls"),
    path("good/async/", good.async_done_right, name="async-done-right"),
    path("good/categories/", good.CategoryListView.as_view(), name="category-list"),
]

# Static files under uvicorn too (runserver serves them itself); only active with DEBUG on.
urlpatterns += staticfiles_urlpatterns()

if settings.TOOLBAR:
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()
