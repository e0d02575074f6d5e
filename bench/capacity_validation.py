"""Is the capacity plan right? Predicted vs measured worker counts on the demo site.

    python bench/capacity_validation.py [--rate 10 [--rate 20]] [--duration 15] [--quick]

1. The plan: ``manage.py async_audit --probe /fanout/sync/ --traffic 'fanout/sync/=RATE'``
   on the demo (``bench.settings_load``: DEBUG off), default objective (at most
   ``CAPACITY_WAIT_MS`` = 50 ms of queueing for 95 % of requests). It predicts the WSGI
   workers needed today, and after converting the route (the report's advice) the WSGI
   workers and the ASGI processes. The view makes 3 upstream calls of 100 ms each: its time
   is I/O waits, so CPU contention from other work on the machine matters less.
2. The measurement: real servers on loopback, fed by an open-loop generator (below) at the
   same fixed Poisson rate, the same arrival schedule every run:
   - today: ``gunicorn -k sync -w N`` serving ``/fanout/sync/``, for several N;
   - after, WSGI: ``gunicorn -w N`` serving the async twin ``/fanout/async/``;
   - after, ASGI: ``uvicorn --workers N`` serving ``/fanout/async/``.
   The demo's upstream runs in a process of its own (``DEMO_UPSTREAM_URL``), as a real
   API would. The objective for a run: p95 latency <= the server's idle p95 (requests one at a time)
   + the wait allowed. The measured minimum is the smallest N that meets it (N - 1 does
   not, N + 1 does too: one lucky run does not count).

The generator sends each request on a new connection at its scheduled time, whatever the
server does (open loop: a slow server does not slow the arrivals, as with ``wrk``), and
measures latency from the scheduled time, so time spent in the listen backlog counts.

Progress goes to stderr; stdout is the report, ready to paste. Bounded: each run lasts
``--duration`` seconds plus a drain of at most 15 s; one rate takes ~6 minutes on an idle
machine (10 on a busy one), and the search is bounded (gunicorn: prediction + 4; uvicorn:
2 processes per CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# The script's folder is first on sys.path when it runs: its helpers import directly.
from _serve import ROOT, free_port, serving

SYNC_PATH, ASYNC_PATH, ROUTE = "/fanout/sync/", "/fanout/async/", "fanout/sync/"
DRAIN_S = 15.0


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# -- the open-loop generator ---------------------------------------------------------------


async def _one(port: int, path: str, timeout: float) -> bool:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    return data.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200"))


async def _open_loop(
    port: int, path: str, arrivals: list[float], duration: float
) -> tuple[list[float], int]:
    """Latencies (ms) of the requests that succeeded, and how many failed or timed out."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    latencies: list[float] = []
    failed = 0

    async def fire(at: float) -> None:
        nonlocal failed
        await asyncio.sleep(max(0.0, start + at - loop.time()))
        try:
            ok = await _one(port, path, duration + DRAIN_S)
        except (OSError, asyncio.TimeoutError):
            ok = False
        if ok:
            latencies.append((loop.time() - start - at) * 1000.0)
        else:
            failed += 1

    tasks = [asyncio.create_task(fire(at)) for at in arrivals]
    _, pending = await asyncio.wait(tasks, timeout=duration + DRAIN_S)
    for t in pending:
        t.cancel()
    return latencies, failed + len(pending)


def poisson_arrivals(rate: float, duration: float, seed: int = 14) -> list[float]:
    rng, at, out = random.Random(seed), 0.0, []
    while True:
        at += rng.expovariate(rate)
        if at >= duration:
            return out
        out.append(at)


def p95(values: list[float], failed: int) -> float:
    """Nearest-rank p95; a failed request counts as infinitely slow."""
    ordered = sorted(values) + [math.inf] * failed
    if not ordered:
        return math.inf
    return ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]


# -- servers -------------------------------------------------------------------------------


@contextmanager
def upstream_process(env: dict[str, str]) -> Iterator[str]:
    """The demo's slow upstream in a process of its own, as a real API would be: in the
    server's process its handler threads would compete with the event loop for the GIL."""
    code = (
        "import sys, time; from demo_site import upstream; "
        "print(upstream.base_url(), flush=True); time.sleep(3600)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")}
    env.update(
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="bench.settings_load",
        DEMO_SQLITE_PATH=str(db),
        DEMO_CONN_MAX_AGE="0",
        DEMO_TOOLBAR="0",  # measure the demo's pages, not the debug toolbar
        PYTHONUNBUFFERED="1",
    )
    return env


CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children, from /proc."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


@contextmanager
def server(kind: str, n: int, env: dict[str, str]) -> Iterator[tuple[int, int]]:
    port = free_port()
    bind = ["127.0.0.1", str(port)]
    if kind == "gunicorn":
        argv = [sys.executable, "-m", "gunicorn", "demo_site.wsgi:application", "-k", "sync",
                "-w", str(n), "-b", ":".join(bind), "--backlog", "2048", "--timeout", "120",
                "--log-level", "warning"]  # fmt: skip
    else:
        argv = [sys.executable, "-m", "uvicorn", "demo_site.asgi:application", "--host", bind[0],
                "--port", bind[1], "--workers", str(n), "--log-level", "warning",
                "--no-access-log", "--backlog", "2048"]  # fmt: skip
    with serving(argv, port, env, kind, stdout=subprocess.DEVNULL, stderr=sys.stderr) as pid:
        yield port, pid


@dataclass
class Run:
    kind: str
    path: str
    n: int
    idle_p95: float
    p95: float
    failed: int
    requests: int
    cpu_ms: float  # server CPU per request under load (all its processes)

    def meets(self, wait_ms: float) -> bool:
        return self.failed == 0 and self.p95 <= self.idle_p95 + wait_ms


def measure(
    kind: str, path: str, n: int, env: dict[str, str], arrivals: list[float], duration: float
) -> Run:
    with server(kind, n, env) as (port, pid):
        # Warm every worker (imports, the per-process upstream), then the idle service time.
        asyncio.run(_open_loop(port, path, [i * 0.05 for i in range(4 * n + 20)], 10.0))
        idle: list[float] = []
        for _ in range(20):
            got, _ = asyncio.run(_open_loop(port, path, [0.0], 5.0))
            idle += got
        idle_p95 = p95(idle, 0)
        cpu_before = tree_cpu_s(pid)
        latencies, failed = asyncio.run(_open_loop(port, path, arrivals, duration))
        cpu_ms = (tree_cpu_s(pid) - cpu_before) * 1000.0 / max(1, len(latencies))
    run = Run(kind, path, n, idle_p95, p95(latencies, failed), failed, len(arrivals), cpu_ms)
    log(
        f"  {kind} x{n} {path}: idle p95 {idle_p95:.0f} ms, loaded p95 {run.p95:.0f} ms, "
        f"{failed} failed of {len(arrivals)}, server CPU {cpu_ms:.1f} ms/request"
    )
    return run


def smallest(
    kind: str,
    path: str,
    start: int,
    env: dict[str, str],
    arrivals: list[float],
    duration: float,
    wait_ms: float,
    limit: int,
) -> tuple[int | None, list[Run]]:
    """Smallest N meeting the objective, N - 1 failing it; searched from the prediction."""
    runs: dict[int, Run] = {}

    def ok(n: int) -> bool:
        if n not in runs:
            runs[n] = measure(kind, path, n, env, arrivals, duration)
        return runs[n].meets(wait_ms)

    n = max(1, start)
    if ok(n):
        while n > 1 and ok(n - 1):
            n -= 1
    else:
        while not ok(n):
            if n >= limit:
                return None, sorted(runs.values(), key=lambda r: r.n)
            n += 1
    # One more above, so a lucky run at N is not the answer alone.
    if n + 1 <= limit and not ok(n + 1):
        log(f"  note: {kind} x{n + 1} missed where x{n} met the objective (noise)")
    return n, sorted(runs.values(), key=lambda r: r.n)


def plan(env: dict[str, str], rate: float) -> Any:
    proc = subprocess.run(
        [sys.executable, "-m", "django", "async_audit", "--no-samples", "--format", "json",
         "--probe", SYNC_PATH, "--traffic", f"{ROUTE}={rate:g}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout)["capacity"]


def _within(predicted: int, measured: int | None) -> str:
    if measured is None:
        return "no (none met it)"
    ok = abs(predicted - measured) <= max(1, 0.25 * measured)
    return "yes" if ok else "no"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rate", type=float, action="append", help="requests per second (repeatable; default 10)"
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run")
    parser.add_argument("--quick", action="store_true", help="5 s runs (a smoke test)")
    args = parser.parse_args()
    duration = 5.0 if args.quick else args.duration
    rates = args.rate or [10.0]
    started = time.monotonic()
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(Path(tmp) / "demo.sqlite3")
        subprocess.run(
            [sys.executable, "demo_site/manage.py", "migrate", "--no-input", "-v0"],
            cwd=ROOT, env=env, check=True, timeout=300, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        with upstream_process(env) as upstream_url:
            env["DEMO_UPSTREAM_URL"] = upstream_url
            for rate in rates:
                results.append((rate, *validate(env, rate, duration)))
    load_after = os.getloadavg()
    print(
        f"capacity validation, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs shared with other work, load average {load_before[0]:.1f} "
        f"before / {load_after[0]:.1f} after, {time.monotonic() - started:.0f} s in all"
    )
    print(
        f"`python bench/capacity_validation.py {' '.join(f'--rate {r:g}' for r in rates)} "
        f"--duration {duration:g}`: {ROUTE}, Poisson arrivals, objective p95 <= idle p95 + "
        "CAPACITY_WAIT_MS"
    )
    print()
    print(
        "| req/s | deployment | predicted | measured minimum | within ±25 % or ±1 "
        "| runs, N: loaded p95 / idle p95 ms (server CPU ms per request) |"
    )
    print("| ---: | --- | ---: | ---: | --- | --- |")
    for rate, _cap, rows in results:
        for key, what, pred, found, runs in rows:
            detail = "; ".join(
                f"{r.n}: {r.p95:.0f}{'' if r.failed == 0 else f' ({r.failed} failed)'} / "
                f"{r.idle_p95:.0f} ({r.cpu_ms:.0f})"
                for r in runs
            )
            print(
                f"| {rate:g} | {key} ({what}) | {pred} | "
                f"{found if found is not None else '-'} | {_within(pred, found)} | {detail} |"
            )
    print()
    for rate, cap, _ in results:
        inputs = cap["routes"][0]
        today, after = cap["plan"]["today"]["peak"], cap["plan"]["after"]["peak"]
        print(
            f"- {rate:g} req/s, model inputs (one probe): WSGI hold {inputs['today']['worker_ms']} ms "
            f"today, {inputs['after']['worker_ms']} ms after; CPU {inputs['after']['cpu_ms']} ms per "
            f"request after; offered load {today['wsgi']['offered_load']} -> "
            f"{after['wsgi']['offered_load']} Erlangs; event-loop load {after['asgi']['cpu_load']}"
        )


def validate(env: dict[str, str], rate: float, duration: float) -> tuple[Any, list[Any]]:
    log(f"plan: probing {SYNC_PATH} at {rate:g} req/s")
    cap: Any = plan(env, rate)
    wait_ms = float(cap["objective"]["wait_ms"])
    peak = cap["plan"]
    predicted = {
        "today-wsgi": int(peak["today"]["peak"]["wsgi"]["workers"]),
        "after-wsgi": int(peak["after"]["peak"]["wsgi"]["workers"]),
        "after-asgi": int(peak["after"]["peak"]["asgi"]["processes"]),
    }
    log(f"predicted: {predicted}")
    arrivals = poisson_arrivals(rate, duration)
    cases = [
        ("today-wsgi", "gunicorn", SYNC_PATH, "gunicorn sync workers, sync view"),
        ("after-wsgi", "gunicorn", ASYNC_PATH, "gunicorn sync workers, async twin"),
        ("after-asgi", "uvicorn", ASYNC_PATH, "uvicorn processes, async twin"),
    ]
    rows: list[Any] = []
    for key, kind, path, what in cases:
        log(f"{key}: {what}")
        # Bounded: a few counts above the prediction (uvicorn: no more processes than 2x
        # the CPUs; past that the processes only fight over them).
        limit = 2 * (os.cpu_count() or 1) if kind == "uvicorn" else predicted[key] + 4
        found, runs = smallest(kind, path, predicted[key], env, arrivals, duration, wait_ms, limit)
        rows.append((key, what, predicted[key], found, runs))
    return cap, rows


if __name__ == "__main__":
    main()
