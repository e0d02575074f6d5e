"""The prediction checked against reality, under a real uvicorn.

For pairs of equivalent endpoints (a sync view and its async rewrite) in the test app and
in demo_site, the predicted async latency of the sync view must be within 25% of the
measured latency of the async one.
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
    env: dict[str, str], pairs: list[tuple[str, str, str]], out
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
        for _ in range(ROUNDS):  # interleaved, so machine noise hits both alike
            for _, *paths in pairs:
                for path in paths:
                    client.get(path).raise_for_status()
        time.sleep(0.5)
    traces = [json.loads(line) for line in out.read_text().splitlines()[first:]]
    result = {}
    for name, sync_path, async_path in pairs:
        sync = [t for t in traces if t["label"] == f"GET {sync_path}"]
        async_ = [t for t in traces if t["label"] == f"GET {async_path}"]
        assert len(sync) == len(async_) == ROUNDS
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
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
    }
    subprocess.run([sys.executable, str(ROOT / "demo_site" / "manage.py"), "migrate", "-v0", "--skip-checks"],
                   cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, check=True)  # fmt: skip
    return _measure(env, DEMO, tmp / "traces.jsonl")


@pytest.mark.parametrize("pair", [p[0] for p in TESTAPP_PAIRS])
def test_predicted_async_latency_is_within_25_percent_in_the_test_app(testapp, pair):
    _, predicted, real = testapp[pair]
    assert abs(predicted - real) <= 0.25 * real, (predicted, real)


@pytest.mark.parametrize("pair", [p[0] for p in DEMO])
def test_predicted_async_latency_is_within_25_percent_in_the_demo(demo, pair):
    _, predicted, real = demo[pair]
    assert abs(predicted - real) <= 0.25 * real, (predicted, real)


@pytest.mark.parametrize("project", ["testapp", "demo"])
def test_the_fanout_prediction_is_a_real_gain(request, project):
    sync_ms, predicted, real = request.getfixturevalue(project)["fanout"]
    assert predicted < 0.6 * sync_ms and real < 0.6 * sync_ms
