"""Probing as a logged-in user: a session for that user, the way Django's test client
``force_login``s, sent as the session cookie and deleted when the probes end.

The session is written straight into the project's session engine with the three keys
``django.contrib.auth.login`` stores; ``login()`` itself is not called, so no
``user_logged_in`` receiver runs (``last_login`` is not written by an audit).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import import_module

__all__ = ["user_session"]


@contextlib.contextmanager
def user_session(username: str | None) -> Iterator[tuple[bytes, bytes] | None]:
    """Yield a ``(b"cookie", ...)`` header for ``username``'s session (None without a user)."""
    if username is None:
        yield None
        return
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )

    from async_audit.probe import ProbeError

    model = get_user_model()
    try:
        user = model._default_manager.get_by_natural_key(username)
    except model.DoesNotExist:
        raise ProbeError(f"--probe-user {username!r}: no such user") from None
    except Exception as exc:
        raise ProbeError(
            f"--probe-user {username!r}: cannot read users: {type(exc).__name__}"
        ) from exc
    if not getattr(user, "is_active", True):
        raise ProbeError(f"--probe-user {username!r}: the user is inactive and cannot log in")
    engine = import_module(settings.SESSION_ENGINE)
    session = engine.SessionStore()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    try:
        yield (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode("latin-1"))
    finally:
        with contextlib.suppress(Exception):
            session.delete()
