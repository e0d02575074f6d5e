from __future__ import annotations

import random

from async_audit.report import build_report
from async_audit.sampling.aggregate import Reservoir
from tests.command.samples import sample_trace


def _trace(route: str, wall: float, blocking: int = 0) -> dict:
    t = sample_trace(wall)
    t["route"] = route
    t["summary"] = {**t["summary"], "blocking_calls": blocking}
    return t


def test_memory_is_bounded_per_route_while_counts_stay_exact():
    r = Reservoir(per_route=50, evidence_per_route=5, rng=random.Random(1))
    for i in range(10_000):
        r.add(_trace("a/" if i % 2 else "b/", 10.0 + i % 100))
    assert r.total == 10_000 and r.counts == {"a/": 5000, "b/": 5000}
    assert r.kept == 100
    assert r.not_kept() == {"a/": 4950, "b/": 4950}


def test_a_rare_blocking_call_is_never_sampled_away():
    r = Reservoir(per_route=10, evidence_per_route=3, rng=random.Random(2))
    for i in range(5000):
        r.add(_trace("a/", 20.0, blocking=1 if i == 4321 else 0))
    assert sum(t["summary"]["blocking_calls"] for t in r.traces()) == 1


def test_the_report_counts_every_sample_and_keeps_percentiles_close():
    rng = random.Random(3)
    walls = [rng.uniform(10.0, 200.0) for _ in range(20_000)]
    r = Reservoir(per_route=500, rng=random.Random(4))
    for w in walls:
        r.add(_trace("fanout/", w))
    full = build_report(None, (), [_trace("fanout/", w) for w in walls])
    bounded = build_report(None, (), r.traces(), samples_not_kept=r.not_kept())
    (a,), (b,) = full["routes"], bounded["routes"]
    assert a["samples"] == b["samples"] == 20_000
    assert bounded["summary"]["samples"] == 20_000
    assert abs(a["p50_ms"] - b["p50_ms"]) / a["p50_ms"] < 0.1
    assert abs(a["p95_ms"] - b["p95_ms"]) / a["p95_ms"] < 0.05
    assert a["verdict"] == b["verdict"]
