"""A middleware module that fails to import (a dependency missing in production)."""

from __future__ import annotations

import not_installed_dependency  # type: ignore[import-not-found]  # noqa: F401


class Middleware:
    pass
