"""What the async-audit panel costs on top of django-debug-toolbar, and what it stores.

    python bench/panel.py [--rounds 5] [--requests 40] [--path /db/sync/]

Two uvicorn servers over the demo (DEBUG on, the toolbar on, a temporary SQLite file): the
toolbar alone (``DEMO_AUDIT_PANEL=0``) and the toolbar plus this panel. Rounds alternate
the two, ``--requests`` sequential GETs each after a warm-up. Measured per variant:

  CPU ms/req   the server process's utime+stime (/proc/<pid>/stat, all threads) over the
               round, divided by the requests; medians over rounds, and the ratio per round
  stats bytes  the panel's stats as the toolbar stores them (its JSON serializer), for the
               last request, read back through the toolbar's own render_panel view

Progress to stderr; the report to stdout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

# The script's folder is first on sys.path when it runs: its helpers import directly.
from _serve import ROOT, free_port, serving, uvicorn_demo

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@contextmanager
def _server(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    port = free_port()
    with serving(uvicorn_demo(port, "--no-access-log"), port, env, "the demo server") as pid:
        yield f"http://127.0.0.1:{port}", pid


def _stats_size(path: str) -> str:
    """In this process (the demo's settings): the panel's stats as the toolbar stores them."""
    import asyncio

    import django

    django.setup()
    from debug_toolbar.store import serialize
    from debug_toolbar.toolbar import DebugToolbar
    from django.test import AsyncClient, Client

    toolbars: list[DebugToolbar] = []

    def created(sender: object, toolbar: DebugToolbar, **kwargs: object) -> None:
        toolbars.append(toolbar)

    DebugToolbar._created.connect(created)
    out = []
    for name, get in (
        ("ASGI", lambda: asyncio.run(AsyncClient().get(path))),
        ("WSGI", lambda: Client().get(path)),
    ):
        get()  # warm-up: first-call imports and the chain's audit
        get()
        stats = toolbars[-1].get_panel_by_id("AsyncAuditPanel").get_stats()
        out.append(f"{name} {len(serialize(stats).encode())} bytes")
    return ", ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--path", default="/db/sync/")
    ap.add_argument("--stats-size", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stats_size:
        print(_stats_size(args.path))
        return
    tmp = tempfile.mkdtemp()
    base = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "demo_site.settings",
            "DEMO_SQLITE_PATH": f"{tmp}/demo.sqlite3", "DEMO_TOOLBAR": "1"}  # fmt: skip
    subprocess.run(
        [sys.executable, "demo_site/manage.py", "migrate", "-v0"], cwd=ROOT, env=base, check=True
    )
    variants = {"toolbar alone": {**base, "DEMO_AUDIT_PANEL": "0"}, "toolbar + panel": base}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    ratios: list[float] = []
    with ExitStack() as stack:
        servers = {k: stack.enter_context(_server(env)) for k, env in variants.items()}
        clients = {k: stack.enter_context(httpx.Client(base_url=u, timeout=60, trust_env=False))
                   for k, (u, _) in servers.items()}  # fmt: skip
        for c in clients.values():
            for _ in range(5):
                c.get(args.path).raise_for_status()
        for r in range(args.rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            per: dict[str, float] = {}
            for k in order:
                pid = servers[k][1]
                c0 = _cpu_s(pid)
                for _ in range(args.requests):
                    clients[k].get(args.path).raise_for_status()
                per[k] = (_cpu_s(pid) - c0) * 1000 / args.requests
                cpu[k].append(per[k])
            ratios.append(per["toolbar + panel"] / per["toolbar alone"])
            print(f"round {r + 1}: {per}", file=sys.stderr)
        # The stored stats of the last request: the toolbar's store serializer on them.
        response = clients["toolbar + panel"].get(args.path)
        request_id = response.text.split('data-request-id="', 1)[1].split('"', 1)[0]
        panel = clients["toolbar + panel"].get(
            "/__debug__/render_panel/",
            params={"request_id": request_id, "panel_id": "AsyncAuditPanel"},
        )
        size_html = len(panel.json()["content"].encode())
    stored = subprocess.run([sys.executable, __file__, "--stats-size", "--path", args.path],
                            cwd=ROOT, env=variants["toolbar + panel"], check=True,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    print(f"path {args.path}, {args.rounds} rounds x {args.requests} requests, uvicorn, DEBUG on")
    for k in variants:
        print(f"  {k:16} CPU {statistics.median(cpu[k]):6.2f} ms/req (median of rounds)")
    print(
        f"  ratio panel/alone {statistics.median(ratios):.3f} (median of per-round ratios; min {min(ratios):.3f}, max {max(ratios):.3f})"
    )
    print(f"  stored stats per request: {stored}; rendered panel {size_html} bytes of HTML")


if __name__ == "__main__":
    main()
