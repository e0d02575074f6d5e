from __future__ import annotations

import stripe_sdk_not_installed  # type: ignore[import-not-found]  # noqa: F401


def index(request):  # pragma: no cover - never imported successfully
    raise AssertionError
