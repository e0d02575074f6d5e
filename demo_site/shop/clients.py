"""HTTP clients for the demo upstream, set up the way each mode needs.

Both sides skip proxy and netrc lookups (``trust_env=False``): the upstream is on loopback,
and an ``HTTP_PROXY`` in the user's shell must not turn the demo into a network test.
"""

from __future__ import annotations

import httpx
import requests

from demo_site import upstream

__all__ = ["TIMEOUT", "async_client", "session", "url"]

TIMEOUT = 10.0
# Built once, at import. ``httpx.AsyncClient()`` otherwise builds an SSL context per client,
# loading the CA bundle from disk: tens of milliseconds of blocking work on the event loop
# for every request, even one that only ever talks plain HTTP.
_SSL_CONTEXT = httpx.create_ssl_context()


def url(ms: int, name: str) -> str:
    """The upstream endpoint that answers after ``ms`` milliseconds."""
    return f"{upstream.base_url()}/slow/{ms}/{name}"


def session() -> requests.Session:
    """A ``requests`` session for sync code (use it as a context manager)."""
    s = requests.Session()
    s.trust_env = False
    return s


def async_client() -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for async code (``async with async_client() as client``)."""
    return httpx.AsyncClient(verify=_SSL_CONTEXT, trust_env=False, timeout=TIMEOUT)
