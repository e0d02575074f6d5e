"""``async_audit.middleware.SamplingMiddleware``: the public path (see ``async_audit.sampling``)."""

from __future__ import annotations

from async_audit.sampling.middleware import SamplingMiddleware

__all__ = ["SamplingMiddleware"]
