"""Real servers, 50 concurrent clients, every request sampled: what was sampled is stored.

uvicorn (2 workers) and daphne under ASGI, gunicorn sync workers under WSGI, on SQLite and
PostgreSQL, and a JSON Lines file. Secrets planted in every part of the requests must appear
nowhere in storage. Each server is stopped the way a deployment stops it (SIGTERM), so the
writers' exit flush is part of what is checked.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from async_audit.storage import parse_sample
from tests.conftest import ROOT, free_port, serve

pytestmark = pytest.mark.server

CLIENTS = 50
ROUNDS = 4  # requests per client
SECRET = "s3cr3t-Xq7Zp"
PAGES = ["/sync/", "/async/", "/pairs/db/sync/", "/pairs/db/async/", "/secrets/"]


def _env(tmp_path: Path, upstream: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AA_SAMPLE")}
    env.update(
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="tests.sampling.server_settings",
        AA_SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        AA_UPSTREAM=upstream,
        **extra,
    )
    return env


def _migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--no-input", "-v0"],
        cwd=ROOT, env=env, check=True, timeout=120,
    )  # fmt: skip


def _fresh_pg(name: str) -> None:
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')


def _argv(server: str, port: int) -> list[str]:
    if server == "uvicorn":
        # uvicorn's supervisor kills a worker that misses a 5 s health check; on a loaded CI
        # machine that SIGKILL (which no process survives to flush) is not what is tested.
        return [sys.executable, "-m", "uvicorn", "tests.asgi:application", "--workers", "2",
                "--timeout-worker-healthcheck", "120",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    if server == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "tests.sampling.wsgi:application", "-w", "2",
                "-k", "sync", "-b", f"127.0.0.1:{port}", "--log-level", "warning"]  # fmt: skip
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tests.asgi:application"]  # fmt: skip


def _load(base: str, clients: int = CLIENTS) -> list[int]:
    async def client(c: httpx.AsyncClient, n: int) -> list[int]:
        statuses = []
        for r in range(ROUNDS):
            page = PAGES[(n + r) % len(PAGES)]
            if page == "/secrets/":
                response = await c.post(
                    f"/secrets/?q={SECRET}-query", content=f"{SECRET}-body",
                    headers={"Authorization": f"Bearer {SECRET}-header", "Cookie": f"sid={SECRET}-cookie"},
                )  # fmt: skip
            else:
                response = await c.get(page)
            statuses.append(response.status_code)
        return statuses

    async def main() -> list[int]:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as c:
            results = await asyncio.gather(*(client(c, n) for n in range(clients)))
        return [s for r in results for s in r]

    return asyncio.run(main())


def _run(server: str, env: dict[str, str], tmp_path: Path) -> list[int]:
    port = free_port()
    with serve(_argv(server, port), port, env, tmp_path / f"{server}.log") as base:
        return _load(base)


def _stored_sqlite(path: Path) -> tuple[list[str], list[tuple[int, int, str]]]:
    with sqlite3.connect(path) as c:
        rows = [r[0] for r in c.execute("SELECT data FROM async_audit_sample")]
        counters = list(
            c.execute("SELECT sampled, stored, dropped FROM async_audit_samplingcounters")
        )
    return rows, counters


def _stored_pg(name: str) -> tuple[list[str], list[tuple[int, int, str]]]:
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}") as c:
        rows = [json.dumps(r[0]) for r in c.execute("SELECT data FROM async_audit_sample")]
        counters = [
            (a, b, json.dumps(d))
            for a, b, d in c.execute(
                "SELECT sampled, stored, dropped FROM async_audit_samplingcounters"
            )
        ]
    return rows, counters


def _check(
    statuses: list[int], rows: list[str], counters: list[tuple[int, int, str]], processes: int
):
    assert statuses and statuses == [200] * len(statuses)
    assert len(counters) == processes  # one row per worker that sampled
    sampled = sum(c[0] for c in counters)
    stored = sum(c[1] for c in counters)
    assert sampled == stored == len(rows) == len(statuses)
    assert all(json.loads(c[2]) == {} for c in counters)
    for row in rows:
        assert SECRET not in row
    samples = [json.loads(r) for r in rows]
    assert {s["route"] for s in samples} == {p.strip("/") + "/" for p in PAGES}
    assert all(s["sample_rate"] == 1.0 and s["pid"] > 0 and s["host"] for s in samples)


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_every_sampled_request_is_stored_on_sqlite(server, tmp_path, upstream):
    env = _env(tmp_path, upstream)
    _migrate(env)
    statuses = _run(server, env, tmp_path)
    rows, counters = _stored_sqlite(tmp_path / "db.sqlite3")
    _check(statuses, rows, counters, processes=len(counters) or 1)
    assert 1 <= len(counters) <= 2


@pytest.mark.postgres
@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_every_sampled_request_is_stored_on_postgresql(server, tmp_path, upstream):
    name = f"{os.environ.get('AA_PG_TEST_NAME', 'test_async_audit')}_srv"
    _fresh_pg(name)
    env = _env(tmp_path, upstream, AA_SAMPLE_PG=name)
    _migrate(env)
    statuses = _run(server, env, tmp_path)
    rows, counters = _stored_pg(name)
    _check(statuses, rows, counters, processes=len(counters) or 1)
    assert 1 <= len(counters) <= 2


def test_daphne_writes_every_sample_to_a_json_lines_file(tmp_path, upstream):
    out = tmp_path / "samples.jsonl"
    env = _env(tmp_path, upstream, AA_SAMPLE_SINK="file", AA_SAMPLE_FILE=str(out))
    _migrate(env)
    statuses = _run("daphne", env, tmp_path)
    lines = out.read_text().splitlines()
    counters = {}
    rows = []
    for line in lines:
        d = json.loads(line)
        if d.get("kind") == "sampling_counters":
            counters[(d["pid"], d["boot"])] = (d["sampled"], d["stored"], json.dumps(d["dropped"]))
        else:
            rows.append(line)
    _check(statuses, rows, list(counters.values()), processes=1)


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn", "daphne"])
def test_a_stopped_server_writes_what_its_writers_still_hold(server, tmp_path, upstream):
    # A flush interval longer than the test: only the server's stop can write the samples.
    # uvicorn ends its workers by re-raising SIGTERM after a graceful shutdown (no atexit):
    # the lifespan shutdown it sends first is where they are written.
    env = _env(tmp_path, upstream, AA_SAMPLE_FLUSH="600")
    _migrate(env)
    statuses = _run(server, env, tmp_path)
    rows, counters = _stored_sqlite(tmp_path / "db.sqlite3")
    _check(statuses, rows, counters, processes=len(counters) or 1)


def test_with_the_samples_database_down_every_request_still_succeeds_and_drops_are_logged(
    tmp_path, upstream
):
    # A port held bound but never listening: connections to it are refused, and no other
    # server of the suite can be handed it meanwhile (as a closed free_port() could be).
    with socket.socket() as down:
        down.bind(("127.0.0.1", 0))
        env = _env(tmp_path, upstream, AA_SAMPLE_DB_DOWN=str(down.getsockname()[1]))
        _migrate(env)
        statuses = _run("uvicorn", env, tmp_path)
    assert statuses == [200] * (CLIENTS * ROUNDS)
    log = (tmp_path / "uvicorn.log").read_text()
    # Each line sums one interval's drops by reason: "samples dropped: 43 database_error, 2 shutdown".
    per_line = [
        [(reason, int(n)) for n, reason in re.findall(r"(\d+) (\w+)", line)]
        for line in re.findall(r"samples dropped: (.+)", log)
    ]
    by_reason: dict[str, int] = {}
    for line in per_line:
        for reason, n in line:
            by_reason[reason] = by_reason.get(reason, 0) + n
    assert sum(by_reason.values()) == CLIENTS * ROUNDS, (by_reason, log[-2000:])
    assert set(by_reason) <= {"database_error", "shutdown"}, by_reason
    assert by_reason.get("database_error", 0) > CLIENTS * ROUNDS / 2, by_reason
    # Logged at most once per flush interval (0.2 s here) and worker, never once per sample.
    assert len(per_line) < CLIENTS * ROUNDS / 2
    assert max(sum(n for _, n in line) for line in per_line) > 1


def test_runserver_samples_every_request_under_wsgi(tmp_path, upstream):
    # runserver dies on SIGTERM without running atexit: wait for the writer's interval flush
    # (0.2 s here) to store everything before stopping it (see the README).
    env = _env(tmp_path, upstream)
    _migrate(env)
    port = free_port()
    argv = [sys.executable, "-m", "django", "runserver", "--noreload", f"127.0.0.1:{port}"]
    with serve(argv, port, env, tmp_path / "runserver.log") as base:
        # runserver's listen backlog is 10: more clients at once get connections reset.
        statuses = _load(base, clients=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows, counters = _stored_sqlite(tmp_path / "db.sqlite3")
            if counters and sum(c[1] for c in counters) == len(statuses):
                break
            time.sleep(0.2)
    rows, counters = _stored_sqlite(tmp_path / "db.sqlite3")
    _check(statuses, rows, counters, processes=1)
    traces = [parse_sample(row)[0] for row in rows]  # as the report reads them
    sync = [s for s in traces if s is not None and s["view_is_async"] is False]
    assert sync and all(s["summary"]["hops"] == 0 for s in sync)  # WSGI: a sync view never hops
