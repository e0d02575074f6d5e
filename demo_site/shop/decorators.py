"""Two home-made view decorators, each written for one kind of view and applied to the other.

Both use ``functools.wraps``, so the view keeps its name and ``__wrapped__`` leads to it:
that is how the audit (AA203) finds the layer whose mode differs from the view's.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["HITS", "count_hits", "log_duration"]

logger = logging.getLogger(__name__)

HITS: Counter[str] = Counter()

View = Callable[..., Any]


def count_hits(view: View) -> View:
    """Counts calls per view. Written for sync views.

    On an ``async def`` view the sync wrapper hides it: Django sees a sync view, runs the
    wrapper in a thread and gets back an unawaited coroutine, which it rejects with a
    ``ValueError`` (a 500). The fix: test ``iscoroutinefunction(view)`` and return an
    ``async def`` wrapper that awaits it, as ``django.contrib.auth``'s decorators do.
    """

    @functools.wraps(view)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
        HITS[view.__name__] += 1
        return view(request, *args, **kwargs)

    return wrapper


def log_duration(view: View) -> View:
    """Logs how long each call takes. Written async-only.

    On a sync view the ``async def`` wrapper makes Django treat it as async and then calls
    the sync view directly, on the event loop thread: whatever it blocks on blocks every
    other request. The fix: return a sync wrapper for sync views.
    """

    @functools.wraps(view)
    async def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        response = view(request, *args, **kwargs)
        logger.info("%s took %.1f ms", view.__name__, (time.perf_counter() - started) * 1000)
        return response

    return wrapper
