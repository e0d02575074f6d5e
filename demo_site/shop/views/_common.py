from __future__ import annotations

import time
from typing import Any

from django.http import JsonResponse

__all__ = ["result"]


def result(case: str, mode: str, started: float, **data: Any) -> JsonResponse:
    """The JSON every non-HTML case returns: what ran, how, and how long the view took."""
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return JsonResponse({"case": case, "mode": mode, "view_ms": elapsed_ms, **data})
