"""Audit a real, installed Django project and check the audit against a direct count.

Run by .ci/realprojects.sh inside the project's own virtualenv (not collected by pytest):

    python tests/inventory/realproject_check.py --path DIR --settings mysite.settings.dev \
        --name wagtail [--min-routes 100]

Checks, exiting 1 on any failure:
- the static audit finishes without errors or AA109 findings, and its replayed middleware
  chain matches the one Django builds (node by node);
- one GET of an async and of a sync probe view (added in front of the project's URLconf)
  through the project's real ASGI handler makes exactly the hops the audit predicts, counted
  by patching ``SyncToAsync.__call__`` / ``AsyncToSync.__call__``.
Prints one JSON line of figures (routes, members, modes, hops, audit time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from typing import Any


def _add_probes(urlconfs: list[str]) -> None:
    """Put an async and a sync probe view in front of each URLconf's patterns, in place
    (projects such as pretix pick their URLconf per request via ``request.urlconf``)."""
    from importlib import import_module

    from django.http import HttpRequest, HttpResponse
    from django.urls import clear_url_caches, path

    async def probe_async(request: HttpRequest) -> HttpResponse:
        return HttpResponse("async")

    def probe_sync(request: HttpRequest) -> HttpResponse:
        return HttpResponse("sync")

    for name in urlconfs:
        module = import_module(name)
        module.urlpatterns[:0] = [
            path("__async_audit_probe__/async/", probe_async),
            path("__async_audit_probe__/sync/", probe_sync),
        ]
    clear_url_caches()


async def _get(path: str, host: str) -> int:
    from django.core.handlers.asgi import ASGIHandler

    application = ASGIHandler()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host.encode())],
        "client": ("127.0.0.1", 50000),
        "server": (host, 80),
    }
    sent: list[dict[str, Any]] = []
    first = True
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application(scope, receive, send)
    return int(sent[0]["status"])


def _count(path: str, host: str) -> tuple[int, int]:
    """(status, hops) of one request, every sync_to_async / async_to_sync call counted."""
    from asgiref.sync import AsyncToSync, SyncToAsync

    counts: Counter[str] = Counter()
    s2a, a2s = SyncToAsync.__call__, AsyncToSync.__call__

    async def counting_s2a(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["hops"] += 1
        return await s2a(self, *args, **kwargs)

    def counting_a2s(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["hops"] += 1
        return a2s(self, *args, **kwargs)

    SyncToAsync.__call__ = counting_s2a  # type: ignore[method-assign]
    AsyncToSync.__call__ = counting_a2s  # type: ignore[method-assign]
    try:
        status = asyncio.run(_get(path, host))
    finally:
        SyncToAsync.__call__ = s2a  # type: ignore[method-assign]
        AsyncToSync.__call__ = a2s  # type: ignore[method-assign]
    return status, counts["hops"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", required=True, help="folder to put on sys.path")
    parser.add_argument("--settings", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--min-routes", type=int, default=1)
    parser.add_argument("--host", default="localhost")
    parser.add_argument(
        "--urlconf", action="append", default=[], help="another URLconf to put the probes in"
    )
    args = parser.parse_args()

    sys.path.insert(0, args.path)
    os.environ["DJANGO_SETTINGS_MODULE"] = args.settings
    import django

    django.setup()
    from django.conf import settings

    from async_audit.inventory import audit_static

    started = time.perf_counter()
    audit = audit_static()
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    audit_static()
    warm_s = time.perf_counter() - started

    failures: list[str] = list(audit.errors)
    failures += [f"{f.code} {f.target}: {f.message}" for f in audit.findings if f.code == "AA109"]
    chain = audit.chain
    if chain is None or not chain.verified:
        failures.append("the replayed chain does not match Django's")
    if len(audit.views) < args.min_routes:
        failures.append(f"only {len(audit.views)} routes, expected >= {args.min_routes}")

    _add_probes([settings.ROOT_URLCONF, *args.urlconf])
    counted: dict[str, Any] = {}
    for label, is_async in (("async", True), ("sync", False)):
        status, hops = _count(f"/__async_audit_probe__/{label}/", args.host)
        predicted = chain.per_request_hops(is_async) if chain is not None else -1
        counted[label] = {"status": status, "counted": hops, "predicted": predicted}
        if status != 200:
            failures.append(f"probe {label}: status {status}")
        if hops != predicted:
            failures.append(f"probe {label}: counted {hops} hops, audit predicted {predicted}")

    by_code = Counter(f.code for f in audit.findings)
    print(
        json.dumps(
            {
                "project": args.name,
                "routes": len(audit.views),
                "async_routes": sum(v.is_async for v in audit.views),
                "middleware": [
                    [m.path, m.mode_under_asgi, m.hops_per_request, m.forced_sync_by]
                    for m in audit.middleware
                ],
                "chain_hops": chain.chain_hops if chain else None,
                "adapters": chain.adapters if chain else None,
                "requests": counted,
                "findings": dict(sorted(by_code.items())),
                "audit_seconds": {"cold": round(cold_s, 3), "warm": round(warm_s, 3)},
                "ok": not failures,
            }
        )
    )
    for failure in failures:
        print(f"FAIL [{args.name}] {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
