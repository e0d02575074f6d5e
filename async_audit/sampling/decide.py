"""Which requests are sampled: the rate, route globs, a per-request callable, forced samples.

The decision must cost an unsampled request as little as possible: with no callable
configured that is one ``random()`` draw and, when forcing is on, one ``META`` lookup. Route
globs need the route, so they are checked (one ``resolve``) only for requests the draw chose.

Forcing one request (to trace the page you are looking at, at rate 0) uses a header a
stranger cannot make: ``X-Async-Audit-Sample: <expiry>:<hmac>``, an HMAC of the path and an
expiry made with the project's ``SECRET_KEY`` (``force_token(path)``, or
``manage.py async_audit --sample-token PATH``). A token is good for one path, for at most
``MAX_TOKEN_SECONDS``; a leaked token cannot make every request traced.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.utils.crypto import constant_time_compare, salted_hmac

from async_audit.verdicts.measured import route_matches

__all__ = [
    "FORCE_HEADER",
    "FORCE_META",
    "MAX_TOKEN_SECONDS",
    "Decider",
    "force_token",
    "route_allowed",
    "token_valid",
]

FORCE_HEADER = "X-Async-Audit-Sample"
FORCE_META = "HTTP_X_ASYNC_AUDIT_SAMPLE"
MAX_TOKEN_SECONDS = 24 * 3600
_SALT = "async_audit.sampling.force"


def _signature(path: str, expiry: int, secret: str | None = None) -> str:
    return salted_hmac(_SALT, f"{path}|{expiry}", secret=secret, algorithm="sha256").hexdigest()


def force_token(
    path: str, seconds: int = 300, now: float | None = None, secret: str | None = None
) -> str:
    """The header value that forces a sample of ``path`` for the next ``seconds``.

    ``secret`` defaults to ``settings.SECRET_KEY`` (give the deployed project's key to make a
    token from elsewhere).
    """
    if not 0 < seconds <= MAX_TOKEN_SECONDS:
        raise ValueError(f"a token lasts 1 to {MAX_TOKEN_SECONDS} seconds, not {seconds}")
    expiry = int((time.time() if now is None else now) + seconds)
    return f"{expiry}:{_signature(path, expiry, secret)}"


def token_valid(token: str, path: str, now: float | None = None) -> bool:
    expiry_text, _, signature = token.partition(":")
    if not expiry_text.isdigit() or not signature:
        return False
    expiry = int(expiry_text)
    now = time.time() if now is None else now
    # A far-future expiry is refused even if signed: tokens are short-lived by design.
    if not now <= expiry <= now + MAX_TOKEN_SECONDS:
        return False
    return constant_time_compare(signature, _signature(path, expiry))


def route_allowed(route: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    if include and not any(route_matches(route, g) for g in include):
        return False
    return not any(route_matches(route, g) for g in exclude)


class Decider:
    """``decide(request)``: ``None`` (not sampled) or ``(rate in force, forced)``."""

    __slots__ = ("exclude", "force", "include", "rate", "sampler")

    def __init__(
        self,
        rate: float,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        sampler: Callable[[Any], Any] | None = None,
        force: bool = True,
    ) -> None:
        self.rate = float(rate)
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.sampler = sampler
        self.force = force

    @classmethod
    def from_settings(cls) -> Decider:
        from django.utils.module_loading import import_string

        from async_audit import conf

        path = conf.get("SAMPLER")
        return cls(
            rate=conf.get("SAMPLE_RATE"),
            include=conf.get("SAMPLE_INCLUDE_ROUTES"),
            exclude=conf.get("SAMPLE_EXCLUDE_ROUTES"),
            sampler=import_string(path) if path else None,
            force=conf.get("SAMPLE_FORCE_HEADER"),
        )

    def decide(self, request: Any) -> tuple[float, bool] | None:
        rate = self.rate
        if self.sampler is not None:
            rate = self._ask_sampler(request)
        if random.random() < rate:
            if self.include or self.exclude:
                route = _route_of(request)
                if route is None or not route_allowed(route, self.include, self.exclude):
                    return None
            return rate, False
        if self.force:
            token = request.META.get(FORCE_META)
            if token is not None and token_valid(token, request.path):
                return rate, True
        return None

    def _ask_sampler(self, request: Any) -> float:
        """The callable's answer as a rate: True/False are 1/0; a bad answer is rate 0."""
        try:
            answer = self.sampler(request)  # type: ignore[misc]
        except Exception:
            _log_sampler_error()
            return 0.0
        if answer is True or answer is False:
            return float(answer)
        if isinstance(answer, (int, float)) and 0.0 <= answer <= 1.0:
            return float(answer)
        if answer is None:
            return self.rate
        _log_sampler_error(answer)
        return 0.0


_sampler_logged = False


def _log_sampler_error(answer: object = None) -> None:
    """Once per process: a broken sampler must not flood the log at every request."""
    global _sampler_logged
    if _sampler_logged:
        return
    _sampler_logged = True
    import logging

    log = logging.getLogger("async_audit")
    if answer is None:
        log.warning("async_audit: ASYNC_AUDIT['SAMPLER'] raised; not sampling", exc_info=True)
    else:
        log.warning(
            "async_audit: ASYNC_AUDIT['SAMPLER'] returned %r (expected a bool, None or a "
            "rate 0.0-1.0); not sampling",
            answer,
        )


def _route_of(request: Any) -> str | None:
    from django.urls import Resolver404, resolve

    try:
        return resolve(request.path_info, getattr(request, "urlconf", None)).route
    except Resolver404:
        return None
