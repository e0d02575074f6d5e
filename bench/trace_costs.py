"""Per-event tracing cost and the cost of untraced requests, as ratios in one run.

    python bench/trace_costs.py [--rounds 7] [--n 2000] [--only in-thread]

Three variants, interleaved round by round so machine noise hits them alike:
  off       no instruments installed
  idle      instruments installed, nothing traced (what every untraced request pays)
  traced    instruments installed, every operation inside a trace
Some operations are timed twice. Through a real worker thread or socket, a hop or a call costs
100-500 us here, and the thread switch makes it move by more than tracing adds. In-thread,
the same code runs with nothing to switch to:
  - a hop goes through all of asgiref's ``SyncToAsync.__call__`` with an executor that runs
    the job at once, so the loop's and the worker's sides of the record run together;
  - http.client, and so urllib, reads a canned response from a fake socket;
  - httpx calls a ``MockTransport``.
What tracing adds there is its own CPU, measured within a microsecond. After the table, a hop
through the real worker thread once more, traced against idle in alternating blocks of 100
hops in one event loop: the pairs are seconds apart instead of minutes, so the machine's
drift cancels better than between separate runs.
Each time is the median over rounds. The costs are medians of each round's own difference
(traced - off, per operation), which a slow stretch of the machine shifts far less than a
difference of medians: of wall time, and of CPU time (``process_time``: every thread of the
process, the worker's and the watchdog's included, system calls included).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import os
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import Executor, Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

import httpx  # noqa: E402
from asgiref.sync import sync_to_async  # noqa: E402
from django.core.cache import caches  # noqa: E402
from django.db import connection  # noqa: E402

from async_audit import instruments  # noqa: E402
from async_audit.asgi_client import asgi_request  # noqa: E402
from async_audit.trace import traced  # noqa: E402
from tests.helpers import asgi_app  # noqa: E402

VARIANTS = ("off", "idle", "traced")

_CANNED = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class _CannedSocket:
    """What ``http.client`` needs of a socket: it sends everything, then reads one response."""

    def sendall(self, data: bytes) -> None:
        pass

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(_CANNED)

    def close(self) -> None:
        pass


class _InlineExecutor(Executor):
    """Runs each job at once, in the caller's thread: a hop with no thread switch."""

    def submit(self, fn: Callable[..., object], /, *args: object, **kwargs: object) -> Future:  # type: ignore[override]
        future: Future[object] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def _set_variant(variant: str) -> None:
    if variant == "off":
        instruments.uninstall()
    else:
        instruments.install()


Times = tuple[float, float]  # (wall, CPU) seconds


def _clocks() -> Times:
    return time.perf_counter(), time.process_time()


def _since(start: Times) -> Times:
    wall, cpu = _clocks()
    return wall - start[0], cpu - start[1]


def _timed(variant: str, body: Callable[[], None]) -> Times:
    _set_variant(variant)
    if variant == "traced":
        with traced():
            t = _clocks()
            body()
            return _since(t)
    t = _clocks()
    body()
    return _since(t)


def _timed_async(variant: str, body: Callable[[], object]) -> Times:
    async def run() -> Times:
        if variant == "traced":
            with traced():
                t = _clocks()
                await body()  # type: ignore[misc]
                return _since(t)
        t = _clocks()
        await body()  # type: ignore[misc]
        return _since(t)

    _set_variant(variant)
    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=2000, help="operations per round")
    parser.add_argument("--only", default="", help="only the operations whose name has this")
    args = parser.parse_args()
    n, rounds = args.n, args.rounds

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/x"
    connection.ensure_connection()
    cache = caches["default"]
    app = asgi_app()
    noop = sync_to_async(lambda: None)
    inline = sync_to_async(lambda: None, thread_sensitive=False, executor=_InlineExecutor())
    canned = http.client.HTTPConnection("example.test")
    mock = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200)))

    async def hops() -> None:
        for _ in range(n):
            await noop()

    async def inline_hops() -> None:
        for _ in range(n):
            await inline()

    def canned_calls() -> None:
        for _ in range(n):
            canned.sock = _CannedSocket()
            canned.request("GET", "/x?secret=1")
            canned.getresponse().read()

    def mock_calls() -> None:
        for _ in range(n):
            mock.get("http://example.test/x")

    def queries() -> None:
        with connection.cursor() as cursor:
            for _ in range(n):
                cursor.execute("SELECT 1")

    def http_calls() -> None:
        for _ in range(n // 10):
            with urllib.request.urlopen(url) as r:
                r.read()

    def cache_calls() -> None:
        for _ in range(n):
            cache.get("k")

    async def blocking_calls() -> None:
        for _ in range(n):
            time.sleep(0)

    def requests(path: str) -> Callable[[], object]:
        async def run() -> None:
            for _ in range(n // 20):
                await asgi_request(app, path)

        return run

    cases: list[tuple[str, int, Callable[[str], Times]]] = [
        ("hop (sync_to_async, worker thread)", n, lambda v: _timed_async(v, hops)),
        ("hop, in-thread (asgiref's whole call)", n, lambda v: _timed_async(v, inline_hops)),
        ("query (sqlite SELECT 1)", n, lambda v: _timed(v, queries)),
        ("outbound HTTP (urllib, loopback)", n // 10, lambda v: _timed(v, http_calls)),
        ("outbound HTTP, in-thread (http.client)", n, lambda v: _timed(v, canned_calls)),
        ("outbound HTTP, in-thread (httpx mock)", n, lambda v: _timed(v, mock_calls)),
        ("cache get (locmem)", n, lambda v: _timed(v, cache_calls)),
        ("blocking call on loop (time.sleep(0))", n, lambda v: _timed_async(v, blocking_calls)),
        (
            "request, async view, 7 middleware",
            n // 20,
            lambda v: _timed_async(v, requests("/async/")),
        ),
        (
            "request, sync view, 7 middleware",
            n // 20,
            lambda v: _timed_async(v, requests("/sync/")),
        ),
    ]
    cases = [case for case in cases if args.only in case[0]]
    results: dict[str, dict[str, list[Times]]] = {
        name: {v: [] for v in VARIANTS} for name, _, _ in cases
    }
    for _name, _ops, run in cases:
        run("off")  # warm-up
    for r in range(rounds):
        for name, ops, run in cases:
            order = VARIANTS if r % 2 == 0 else tuple(reversed(VARIANTS))
            for variant in order:
                wall, cpu = run(variant)
                results[name][variant].append((wall / ops * 1e6, cpu / ops * 1e6))
    blocks = _hop_blocks(noop, rounds * 20) if any("hop" in c[0] for c in cases) else None
    instruments.uninstall()
    server.shutdown()

    print(f"python {sys.version.split()[0]}, django {django.get_version()}, {os.cpu_count()} cores, "
          f"{rounds} interleaved rounds, medians, us per operation")  # fmt: skip
    header = (
        f"{'operation':42} {'off':>9} {'idle':>9} {'traced':>9} {'idle/off':>9} "
        f"{'traced/off':>10} {'cost':>8} {'CPU cost':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, _, _ in cases:
        runs = results[name]
        off, idle, tr = (statistics.median(w for w, _ in runs[v]) for v in VARIANTS)
        pairs = list(zip(runs["traced"], runs["off"], strict=True))
        cost = statistics.median(t[0] - o[0] for t, o in pairs)
        cpu = statistics.median(t[1] - o[1] for t, o in pairs)
        print(
            f"{name:42} {off:9.2f} {idle:9.2f} {tr:9.2f} {idle / off:9.3f} {tr / off:10.3f} "
            f"{cost:8.2f} {cpu:9.2f}"
        )
    if blocks is not None:
        idle, wall, cpu, low, high = blocks
        print(
            f"\nhop through the worker thread, traced vs idle in alternating blocks of {_BLOCK} in "
            f"one loop ({rounds * 20} pairs): idle {idle:.1f} us, traced - idle {wall:.2f} us "
            f"wall (middle half {low:.1f} to {high:.1f}), {cpu:.2f} us CPU"
        )


_BLOCK = 100


def _hop_blocks(noop: Callable[[], object], pairs: int) -> tuple[float, ...]:
    """A traced hop against an idle one through the real worker thread, without the drift of
    separate runs: blocks of hops traced and not, alternating in one event loop."""
    instruments.install()

    async def block() -> Times:
        t = _clocks()
        for _ in range(_BLOCK):
            await noop()  # type: ignore[misc]
        return _since(t)

    async def run() -> tuple[float, ...]:
        await block()
        walls: list[float] = []
        cpus: list[float] = []
        idles: list[float] = []
        for k in range(pairs):
            times: dict[bool, Times] = {}
            for tracing in (False, True) if k % 2 == 0 else (True, False):
                if tracing:
                    with traced():
                        times[True] = await block()
                else:
                    times[False] = await block()
            walls.append((times[True][0] - times[False][0]) / _BLOCK * 1e6)
            cpus.append((times[True][1] - times[False][1]) / _BLOCK * 1e6)
            idles.append(times[False][0] / _BLOCK * 1e6)
        low, _, high = statistics.quantiles(walls, n=4)
        median = statistics.median
        return median(idles), median(walls), median(cpus), low, high

    return asyncio.run(run())


if __name__ == "__main__":
    main()
