"""Time to compute verdicts for many traces, and for one trace with thousands of hops.

    python bench/verdict_speed.py [--traces 10000] [--hops 2000 4900]

Real traces of the test project's views (in-process, traced), replicated with jitter to
the requested count across routes, then ``judge_all`` over all of them. Then single
traces of N gathered thread-sensitive hops, each queueing behind the one before and making
an outbound call (the shape that once made verdicts quadratic: 24 s for 2,000 hops).
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("AA_SQLITE_PATH", "/tmp/async-audit-bench.sqlite3")

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from async_audit import instruments  # noqa: E402
from async_audit.verdicts import facts, judge_all  # noqa: E402
from tests.conftest import _Upstream  # noqa: E402
from tests.helpers import run_traced_many  # noqa: E402

PATHS = ["/pairs/fanout/sync/", "/pairs/slow/sync/", "/pairs/cpu/sync/", "/pairs/db/sync/",
         "/pairs/db/async/", "/async-sleep/", "/hop-heavy-async/", "/gathered-hops-async/"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--hops", type=int, nargs="*", default=[2000, 4900])
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["AA_UPSTREAM"] = f"http://127.0.0.1:{server.server_address[1]}"
    instruments.install()
    seeds = [t.to_dict() for p in PATHS for t in run_traced_many(p, 3)]
    instruments.uninstall()
    rng = random.Random(1)
    traces = []
    for i in range(args.traces):
        t = copy.deepcopy(seeds[i % len(seeds)])
        scale = rng.uniform(0.8, 1.25)
        t["wall_ms"] *= scale
        for e in t["events"]:
            for k in ("start_ms", "end_ms", "duration_ms"):
                if e.get(k) is not None:
                    e[k] *= scale
        traces.append(t)
    events = sum(len(t["events"]) for t in traces)
    start = time.perf_counter()
    verdicts = judge_all(traces)
    took = time.perf_counter() - start
    findings = sum(len(v.findings) for v in verdicts)
    print(
        f"{len(traces)} traces ({events} events) over {len(verdicts)} routes -> {findings} findings"
    )
    print(f"judge_all: {took:.2f} s ({took / len(traces) * 1e6:.0f} us per trace)")
    for n in args.hops:
        trace = _hop_heavy(n)
        start = time.perf_counter()
        f = facts(trace)
        took = time.perf_counter() - start
        print(f"one trace of {n} gathered hops (+{n} calls): facts in {took * 1000:.1f} ms "
              f"(max queue wait {f.max_queue_wait_ms} ms)")  # fmt: skip
    server.shutdown()


def _hop_heavy(n: int) -> dict[str, object]:
    events: list[dict[str, object]] = []
    for i in range(n):
        start = i * 2.0
        events.append({"kind": "hop", "direction": "sync_to_async", "target": f"app.f{i}",
                       "start_ms": start, "end_ms": start + 3.5, "duration_ms": 3.5,
                       "queue_wait_ms": 1.5, "run_ms": 2.0, "overhead_ms": 1.5, "run_thread": 7,
                       "nested": False, "site": None})  # fmt: skip
        events.append({"kind": "http", "start_ms": start + 1.6, "end_ms": start + 1.9,
                       "duration_ms": 0.3, "method": "GET", "host": "h", "path": "/"})  # fmt: skip
    return {"wall_ms": n * 2.0 + 10, "cpu_ms": 1.0, "view_is_async": True, "summary": {},
            "events": events}  # fmt: skip


if __name__ == "__main__":
    main()
