"""The prediction checked against reality, under a real uvicorn.

For pairs of equivalent endpoints (a sync view and its async rewrite) in the test app and
in demo_site, the predicted async latency of the sync view is compared with the measured
latency of the async one. The README's +-25% claim is measured by
``bench/predictions.py`` (many interleaved rounds, on a quiet machine); these tests keep
only what still holds when a busy machine makes every request up to twice as slow: the
prediction within a factor of two where the time is outbound I/O, the fan-out's gain, and
no gain predicted where there is none.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import httpx
import pytest

from async_audit.verdicts import facts
from demo_site.shop.pairs import PAIRS as DEMO_PAIRS
from tests.conftest import ROOT, run_uvicorn

pytestmark = pytest.mark.server

ROUNDS = 15
# (name, sync path, async path) per project.
TESTAPP_PAIRS = [
    (n, f"/pairs/{n}/sync/", f"/pairs/{n}/async/") for n in ("fanout", "slow", "cpu", "db")
]
DEMO = [(p["name"], p["sync"], p["async"]) for p in DEMO_PAIRS]


def _measure(
    env: dict[str, str], pairs: list[tuple[str, str, str]], out, rounds: int = ROUNDS
) -> dict[str, tuple[float, float, float]]:
    """Serve the project traced (tests/e2e/app.py), request each pair interleaved; medians."""
    with (
        run_uvicorn("tests.e2e.app:app", env) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        for _, *paths in pairs:  # warm-up: imports, clients, the first connection
            for path in paths * 2:
                client.get(path).raise_for_status()
        time.sleep(0.5)
        first = len(out.read_text().splitlines())
        for _ in range(rounds):  # interleaved, so machine noise hits both alike
            for _, *paths in pairs:
                for path in paths:
                    client.get(path).raise_for_status()
        time.sleep(0.5)
    traces = [json.loads(line) for line in out.read_text().splitlines()[first:]]
    result = {}
    for name, sync_path, async_path in pairs:
        sync = [t for t in traces if t["label"] == f"GET {sync_path}"]
        async_ = [t for t in traces if t["label"] == f"GET {async_path}"]
        assert len(sync) == len(async_) == rounds
        result[name] = (
            statistics.median(t["wall_ms"] for t in sync),
            statistics.median(facts(t).predicted_async_ms for t in sync),
            statistics.median(t["wall_ms"] for t in async_),
        )
    print("\npair       sync ms  predicted async ms  measured async ms  error")
    for name, (sync_ms, pred, real) in result.items():
        print(f"{name:10} {sync_ms:7.1f} {pred:19.1f} {real:18.1f} {(pred - real) / real:+6.1%}")
    return result


@pytest.fixture(scope="module")
def testapp(upstream, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predictions")
    env = {
        "AA_TRACE_OUT": str(tmp / "traces.jsonl"),
        "AA_UPSTREAM": upstream,
        "AA_SQLITE_PATH": str(tmp / "db.sqlite3"),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v0"], cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT), **env}, check=True)  # fmt: skip
    return _measure(env, TESTAPP_PAIRS, tmp / "traces.jsonl")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo-predictions")
    env = {
        "AA_TRACE_OUT": str(tmp / "traces.jsonl"),
        "DEMO_SQLITE_PATH": str(tmp / "demo.sqlite3"),
        "DEMO_TOOLBAR": "0",  # the demo shows the toolbar in DEBUG: its work is not measured here
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
    }
    subprocess.run([sys.executable, str(ROOT / "demo_site" / "manage.py"), "migrate", "-v0", "--skip-checks"],
                   cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, check=True)  # fmt: skip
    return _measure(env, DEMO, tmp / "traces.jsonl")


def _project(request, project):
    return request.getfixturevalue(project)


PROJECT_PAIRS = [("testapp", p[0]) for p in TESTAPP_PAIRS] + [("demo", p[0]) for p in DEMO]


# Pairs whose time is mostly outbound I/O, which a busy machine does not stretch. The CPU
# and DB pairs are left to the benchmark: under load a hop costs several thread switches,
# each waiting for a CPU, so an async view of two a* queries slows down more than 2x.
IO_PAIRS = [(p, n) for p, n in PROJECT_PAIRS if n in ("fanout", "slow", "slow-call")]


@pytest.mark.parametrize(("project", "pair"), IO_PAIRS)
def test_predicted_async_latency_is_within_a_factor_of_two_of_the_measured_one(
    request, project, pair
):
    _, predicted, real = _project(request, project)[pair]
    assert 0.5 * real <= predicted <= 2.0 * real, (predicted, real)


@pytest.mark.parametrize("project", ["testapp", "demo"])
def test_the_fanout_prediction_is_a_real_gain(request, project):
    sync_ms, predicted, real = _project(request, project)["fanout"]
    # From the sync view's own traces, so load cannot upset it; how close the async view
    # really comes is the factor-of-two test's (a busy machine stretches its CPU part).
    assert predicted < 0.5 * sync_ms, (sync_ms, predicted, real)


@pytest.mark.parametrize(
    ("project", "pair"), [(p, n) for p, n in PROJECT_PAIRS if n not in ("fanout",)]
)
def test_no_gain_is_predicted_where_async_has_none_to_give(request, project, pair):
    # One call, CPU work, two queries: async runs the same work, so about the sync time.
    sync_ms, predicted, _ = _project(request, project)[pair]
    assert predicted >= 0.5 * sync_ms, (sync_ms, predicted)
