"""ASGI application factories served by ``bench/load.py`` (``uvicorn --factory``).

Each variant is a factory here plus a settings module; nothing is imported or installed until
uvicorn calls the factory, so the baseline process never imports ``async_audit``.

- ``plain``: the demo's application, nothing else.
- ``idle``: the same after ``instruments.install()``: every patch in place, nothing traced.
- ``traced``: the same wrapped in ``TracedASGIApp``. Environment knobs, so that another
  variant is one entry in ``bench/load.py``'s list:
  ``BENCH_TRACE_RATE`` (share of requests traced, default 1.0) and ``BENCH_TRACE_EXPORT``
  (``1``, the default: ``trace.to_dict()`` is called and discarded; ``0``: the trace is
  dropped as is).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any


def plain() -> Callable[..., Any]:
    from django.core.asgi import get_asgi_application

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_load")
    return get_asgi_application()


def idle() -> Callable[..., Any]:
    from async_audit import instruments

    app = plain()  # django.setup() first: install() reads the ASYNC_AUDIT settings
    instruments.install()
    return app


def traced() -> Callable[..., Any]:
    from async_audit.trace.asgi import TracedASGIApp
    from async_audit.trace.core import Trace

    app = idle()
    rate = float(os.environ.get("BENCH_TRACE_RATE", "1"))
    export = os.environ.get("BENCH_TRACE_EXPORT", "1") != "0"

    def on_trace(trace: Trace) -> None:
        if export:
            trace.to_dict()

    should_trace: Callable[[dict[str, Any]], bool] | None = None
    if rate < 1.0:
        draw = random.Random(1).random

        def should_trace(scope: dict[str, Any]) -> bool:
            return draw() < rate

    return TracedASGIApp(app, on_trace, should_trace)
