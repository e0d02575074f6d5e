"""How close the predicted async latency of a sync view is to its async rewrite's, measured.

    python bench/predictions.py [--rounds 30] [--project testapp|demo|both]

Serves the test app and demo_site under a real uvicorn, traced (``tests/e2e/app.py``),
requests each sync view and its async rewrite interleaved for ``--rounds`` rounds (so
machine noise hits both alike), and prints, per pair, the medians of the sync latency,
the prediction made from the sync view's traces, the measured async latency, and the
error. The README's "within +-25%" claim comes from this table, not from a timed test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import _Upstream  # noqa: E402
from tests.verdicts.test_predictions import DEMO, TESTAPP_PAIRS, _measure  # noqa: E402


def _testapp(tmp: Path, rounds: int) -> dict[str, tuple[float, float, float]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"AA_TRACE_OUT": str(tmp / "t.jsonl"), "AA_SQLITE_PATH": str(tmp / "t.sqlite3"),
           "AA_UPSTREAM": f"http://127.0.0.1:{server.server_address[1]}",
           "DJANGO_SETTINGS_MODULE": "tests.settings"}  # fmt: skip
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v0", "--skip-checks"], cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT), **env}, check=True)  # fmt: skip
    try:
        return _measure(env, TESTAPP_PAIRS, tmp / "t.jsonl", rounds)
    finally:
        server.shutdown()


def _demo(tmp: Path, rounds: int) -> dict[str, tuple[float, float, float]]:
    env = {"AA_TRACE_OUT": str(tmp / "d.jsonl"), "DEMO_SQLITE_PATH": str(tmp / "d.sqlite3"), "DEMO_TOOLBAR": "0",
           "DJANGO_SETTINGS_MODULE": "demo_site.settings"}  # fmt: skip
    subprocess.run([sys.executable, str(ROOT / "demo_site" / "manage.py"), "migrate", "-v0", "--skip-checks"],
                   cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, check=True)  # fmt: skip
    return _measure(env, DEMO, tmp / "d.jsonl", rounds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--project", choices=["testapp", "demo", "both"], default="both")
    args = parser.parse_args()
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in (("testapp", _testapp), ("demo", _demo)):
            if args.project not in (name, "both"):
                continue
            print(f"\n{name}, {args.rounds} interleaved rounds, medians:", end="")
            for _, predicted, real in run(Path(tmp), args.rounds).values():
                worst = max(worst, abs(predicted - real) / real)
    print(f"\nlargest error: {worst:.1%} ({'within' if worst <= 0.25 else 'OUTSIDE'} +-25%)")


if __name__ == "__main__":
    main()
