"""How long the report takes over a million stored samples, and its peak memory.

    python bench/read_scale.py [--samples 1000000] [--db sqlite postgres] [--days 7]

1. A corpus of real traces: the demo under uvicorn with the sampling middleware at rate 1.0
   writing to a file (``bench/settings_read.py``), each demo page requested ``--per-page``
   times. Kept in ``--cache`` and reused.
2. A database per backend filled with ``--samples`` rows copied from the corpus, as the
   sampling writer stores them (``record.row_fields``: the trace plus its figure columns),
   with arrival times spread uniformly over ``--days`` days. SQLite in a file under
   ``--cache``, PostgreSQL in the database ``aa_read_bench`` on 127.0.0.1, vacuumed as
   autovacuum would (both recreated when the row count differs).
3. The measurement: ``manage.py async_audit --format json`` on the demo, reading those rows,
   in a fresh process: wall time and peak resident memory (``wait4``'s ``ru_maxrss``). The
   goal: at most 10 s and 300 MB for a million samples.

Progress goes to stderr; the table (ready for the README) to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# The script's folder is first on sys.path when it runs: its helpers import directly.
from _serve import ROOT, free_port, serving, uvicorn_demo

PG_NAME = "aa_read_bench"


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def corpus(path: Path, per_page: int) -> list[dict[str, Any]]:
    """Real sampled records of every demo page (cached in ``path``)."""
    if path.exists():
        records = [json.loads(line) for line in path.read_text().splitlines()]
        records = [r for r in records if "kind" not in r]
        if records:
            return records
    sys.path.insert(0, str(ROOT))
    from demo_site.shop.cases import CASES

    db = path.with_suffix(".sqlite3")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "bench.settings_read",
        "AA_SAMPLE_FILE": str(path),
        "DEMO_TOOLBAR": "0",
        "DEMO_SQLITE_PATH": str(db),
    }
    manage = [sys.executable, str(ROOT / "demo_site" / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0", "--skip-checks"], env=env, check=True)
    port = free_port()
    import httpx

    log(f"corpus: {len(CASES)} demo pages x {per_page} under uvicorn, sampled at rate 1.0")
    with serving(uvicorn_demo(port), port, env, "uvicorn"):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(per_page):
                for case in CASES:
                    client.get(case.path)
        time.sleep(1.0)  # the writer flushes every 0.2 s
    return corpus(path, per_page)


def _rows(records: list[dict[str, Any]], n: int, days: float, vendor: str) -> Any:
    """``n`` rows as the writer stores them, copied from ``records`` with spread times."""
    from async_audit.sampling.record import row_fields

    base = [row_fields(r) for r in records]
    texts = [json.dumps(r, separators=(",", ":")) for r in records]
    names = [k for k in base[0] if k != "data"]
    now = time.time()
    rng = random.Random(1)
    for i in range(n):
        k = i % len(base)
        at = now - rng.uniform(0, days * 86400)
        fields = {
            **base[k],
            "started_at": at,
            "created": datetime.fromtimestamp(at, tz=timezone.utc),
        }
        if vendor == "sqlite":
            fields["created"] = fields["created"].strftime("%Y-%m-%d %H:%M:%S.%f")
        yield [fields[name] for name in names] + [texts[k]], [*names, "data"]


def fill_sqlite(path: Path, records: list[dict[str, Any]], n: int, days: float) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DEMO_SQLITE_PATH": str(path),
        "DEMO_TOOLBAR": "0",
    }
    if path.exists():
        with sqlite3.connect(path) as c:
            if c.execute("SELECT COUNT(*) FROM async_audit_sample").fetchone()[0] == n:
                log(f"sqlite: {path} already holds {n} samples")
                return
        path.unlink()
    manage = [sys.executable, str(ROOT / "demo_site" / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0", "--skip-checks"], env=env, check=True)
    log(f"sqlite: inserting {n} samples into {path}")
    started = time.monotonic()
    with sqlite3.connect(path) as c:
        rows = _rows(records, n, days, "sqlite")
        first, names = next(rows)
        sql = (f"INSERT INTO async_audit_sample ({', '.join(names)}) "
               f"VALUES ({', '.join('?' * len(names))})")  # fmt: skip
        c.execute(sql, first)
        batch: list[list[Any]] = []
        for values, _ in rows:
            batch.append(values)
            if len(batch) == 10_000:
                c.executemany(sql, batch)
                batch.clear()
        c.executemany(sql, batch)
    log(
        f"sqlite: {n} inserted in {time.monotonic() - started:.0f} s, {path.stat().st_size / 1e9:.2f} GB"
    )


def fill_postgres(records: list[dict[str, Any]], n: int, days: float) -> None:
    import psycopg

    admin = "host=127.0.0.1 user=postgres dbname=postgres"
    try:
        with psycopg.connect(
            f"host=127.0.0.1 user=postgres dbname={PG_NAME}", autocommit=True
        ) as c:
            if c.execute("SELECT COUNT(*) FROM async_audit_sample").fetchone() == (n,):
                # Filled before, maybe by a run stopped before its VACUUM: cheap when done.
                c.execute("VACUUM ANALYZE async_audit_sample")
                log(f"postgres: {PG_NAME} already holds {n} samples")
                return
    except psycopg.Error:
        pass
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {PG_NAME}")
        c.execute(f"CREATE DATABASE {PG_NAME}")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEMO_DB": "postgres", "DEMO_PG_NAME": PG_NAME,
           "DEMO_TOOLBAR": "0"}  # fmt: skip
    manage = [sys.executable, str(ROOT / "demo_site" / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0", "--skip-checks"], env=env, check=True)
    log(f"postgres: copying {n} samples into {PG_NAME}")
    started = time.monotonic()
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={PG_NAME}") as c:
        rows = _rows(records, n, days, "postgresql")
        first, names = next(rows)
        with c.cursor().copy(f"COPY async_audit_sample ({', '.join(names)}) FROM STDIN") as copy:
            copy.write_row(first)
            for values, _ in rows:
                copy.write_row(values)
    # What autovacuum does to a table that only grows: without it the visibility map is
    # empty, every index-only scan reads the heap too, and the report took 11 s, not 8.
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={PG_NAME}", autocommit=True) as c:
        c.execute("VACUUM ANALYZE async_audit_sample")
    log(f"postgres: {n} copied and vacuumed in {time.monotonic() - started:.0f} s")


def measure(env: dict[str, str]) -> tuple[float, float, dict[str, Any]]:
    """(seconds, peak MB, report) of ``manage.py async_audit --format json`` in a fresh process."""
    argv = [
        sys.executable,
        str(ROOT / "demo_site" / "manage.py"),
        "async_audit",
        "--format",
        "json",
    ]
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    seconds = time.monotonic() - started
    # The child has exited: its rusage is in RUSAGE_CHILDREN, but that is the max over all
    # children so far; each measurement runs in its own wrapper process for that reason.
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        raise SystemExit(f"async_audit exited {proc.returncode}: {err.decode()[-2000:]}")
    return seconds, peak_mb, json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument(
        "--db", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument(
        "--days", type=float, default=7.0, help="arrival times spread over this many days"
    )
    parser.add_argument("--per-page", type=int, default=8, help="corpus: requests per demo page")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/async-audit-read-bench"))
    parser.add_argument("--measure-only", metavar="BACKEND", help=argparse.SUPPRESS)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_read")
    os.environ["DEMO_TOOLBAR"] = "0"
    base_env = {**os.environ, "PYTHONPATH": str(ROOT), "DEMO_TOOLBAR": "0",
                "DJANGO_SETTINGS_MODULE": "demo_site.settings"}  # fmt: skip
    sqlite_path = args.cache / "samples.sqlite3"
    envs = {
        "sqlite": {**base_env, "DEMO_SQLITE_PATH": str(sqlite_path)},
        "postgres": {**base_env, "DEMO_DB": "postgres", "DEMO_PG_NAME": PG_NAME},
    }
    if args.measure_only:  # the wrapper process of one measurement (see measure())
        seconds, peak, report = measure(envs[args.measure_only])
        print(json.dumps({"seconds": seconds, "peak_mb": peak, "samples": report["summary"]["samples"],
                          "routes": len(report["routes"]), "findings": len(report["findings"])}))  # fmt: skip
        return

    import django

    django.setup()
    args.cache.mkdir(parents=True, exist_ok=True)
    records = corpus(args.cache / "corpus.jsonl", args.per_page)
    size = sum(len(json.dumps(r)) for r in records) / len(records)
    log(f"corpus: {len(records)} real traces, {size / 1000:.1f} kB of JSON each on average")
    results = []
    for backend in args.db:
        if backend == "sqlite":
            fill_sqlite(sqlite_path, records, args.samples, args.days)
        else:
            fill_postgres(records, args.samples, args.days)
        log(f"{backend}: running the report")
        argv = [sys.executable, __file__, "--measure-only", backend, "--cache", str(args.cache)]
        result = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
        log(f"{backend}: {result}")
        results.append((backend, result))

    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    print(f"`python bench/read_scale.py --samples {args.samples}` ({when}, load average {load:.1f}; "
          f"{len(records)} real demo traces of {size / 1000:.1f} kB copied over {args.days:g} days)\n")  # fmt: skip
    print(
        "| database | samples | routes | findings | report time | peak memory | goal (10 s, 300 MB) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for backend, r in results:
        ok = "met" if r["seconds"] <= 10 and r["peak_mb"] <= 300 else "missed"
        print(f"| {backend} | {r['samples']:,} | {r['routes']} | {r['findings']} | {r['seconds']:.1f} s | "
              f"{r['peak_mb']:.0f} MB | {ok} |")  # fmt: skip


if __name__ == "__main__":
    main()
