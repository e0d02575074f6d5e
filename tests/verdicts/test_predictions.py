"""The prediction checked against reality, under a real uvicorn.

For pairs of equivalent endpoints (a sync view and its async rewrite) the predicted async
latency of the sync view must be within 25% of the measured latency of the async one.
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
from tests.conftest import ROOT, run_uvicorn

pytestmark = pytest.mark.server

PAIRS = ["fanout", "slow", "cpu", "db"]
ROUNDS = 9


@pytest.fixture(scope="module")
def measured(upstream, tmp_path_factory) -> dict[str, tuple[float, float, float]]:
    tmp = tmp_path_factory.mktemp("predictions")
    out = tmp / "traces.jsonl"
    env = {
        "AA_TRACE_OUT": str(out),
        "AA_UPSTREAM": upstream,
        "AA_SQLITE_PATH": str(tmp / "db.sqlite3"),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "-v0"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        check=True,
    )
    with (
        run_uvicorn("tests.e2e.app:app", env) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        for name in PAIRS:  # warm-up: imports, the shared client, the first connection
            for kind in ("sync", "async"):
                for _ in range(2):
                    client.get(f"/pairs/{name}/{kind}/").raise_for_status()
        time.sleep(0.5)
        first = len(out.read_text().splitlines())
        for _ in range(ROUNDS):  # interleaved, so machine noise hits both alike
            for name in PAIRS:
                for kind in ("sync", "async"):
                    client.get(f"/pairs/{name}/{kind}/").raise_for_status()
        time.sleep(0.5)
    traces = [json.loads(line) for line in out.read_text().splitlines()[first:]]
    result = {}
    for name in PAIRS:
        sync = [t for t in traces if t["route"] == f"pairs/{name}/sync/"]
        async_ = [t for t in traces if t["route"] == f"pairs/{name}/async/"]
        assert len(sync) == len(async_) == ROUNDS
        predicted = statistics.median(facts(t).predicted_async_ms for t in sync)
        result[name] = (
            statistics.median(t["wall_ms"] for t in sync),
            predicted,
            statistics.median(t["wall_ms"] for t in async_),
        )
    print("\npair     sync ms  predicted async ms  measured async ms  error")
    for name, (sync_ms, pred, real) in result.items():
        print(f"{name:8} {sync_ms:7.1f} {pred:19.1f} {real:18.1f} {(pred - real) / real:+6.1%}")
    return result


@pytest.mark.parametrize("pair", PAIRS)
def test_predicted_async_latency_is_within_25_percent_of_the_measured_one(measured, pair):
    _, predicted, real = measured[pair]
    assert abs(predicted - real) <= 0.25 * real, (predicted, real)


def test_the_fanout_prediction_is_a_real_gain(measured):
    sync_ms, predicted, real = measured["fanout"]
    assert predicted < 0.6 * sync_ms and real < 0.6 * sync_ms
