"""Time to compute verdicts for many traces.

    python bench/verdict_speed.py [--traces 10000]

Real traces of the test project's views (in-process, traced), replicated with jitter to
the requested count across routes, then ``judge_all`` over all of them.
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
from async_audit.verdicts import judge_all  # noqa: E402
from tests.conftest import _Upstream  # noqa: E402
from tests.helpers import run_traced_many  # noqa: E402

PATHS = ["/pairs/fanout/sync/", "/pairs/slow/sync/", "/pairs/cpu/sync/", "/pairs/db/sync/",
         "/pairs/db/async/", "/async-sleep/", "/hop-heavy-async/", "/gathered-hops-async/"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=10_000)
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
    server.shutdown()


if __name__ == "__main__":
    main()
