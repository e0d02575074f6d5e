"""The reading side over figure columns says what decoding every stored trace says.

A few hundred real traces (the test app's pages, each through ``TracedASGIApp``, recorded
as the sampling writer records them) are stored twice over: as rows of schema 2 (figure
columns written by ``row_fields``) and as rows of schema 1 (the trace only, as the previous
version wrote them). The report built by ``read_stored`` must have the same findings, route
figures and sample counts as the one built the old way (every row decoded, a reservoir per
route), on SQLite and on PostgreSQL, whatever the mix of schemas.
"""

from __future__ import annotations

import copy
import io
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import TextField
from django.db.models.functions import Cast

from async_audit.models import Sample
from async_audit.probe import ProbeResult
from async_audit.report import build_report
from async_audit.sampling.aggregate import Reservoir
from async_audit.sampling.read import read_stored
from async_audit.sampling.record import make_record, row_fields
from async_audit.storage import parse_sample, skipped_note
from async_audit.verdicts import Thresholds, route_key
from async_audit.verdicts.capacity import Arrivals, CapacityOptions
from tests.helpers import run_traced_many

PAGES = {
    "/pairs/fanout/sync/": 25,  # AA305 + AA306, from serial outbound calls
    "/pairs/fanout/async/": 15,
    "/pairs/cpu/sync/": 25,  # AA307, CPU-bound
    "/pairs/db/sync/": 40,
    "/async-sleep/": 30,  # AA301, a blocking call on the loop
    "/async-sync-orm/": 20,  # AA308 in a 500: an error response with evidence
    "/hop-heavy-async/": 30,
    "/": 60,  # the root route
    "/no-such-page/": 20,  # 404: not measured, nothing to report
    "/pairs/db/sync": 10,  # APPEND_SLASH's 301: measured, no view, so no prediction
}


@pytest.fixture(scope="module")
def records(upstream, django_db_setup, django_db_blocker) -> list[dict[str, Any]]:
    """Real records of every page, some forced and at other rates, spread over an hour."""
    import os

    os.environ["AA_UPSTREAM"] = upstream
    from async_audit import instruments

    rng = random.Random(7)
    out: list[dict[str, Any]] = []
    with django_db_blocker.unblock():
        instruments.install()
        try:
            for path, n in PAGES.items():
                for trace in run_traced_many(path, n):
                    rate = rng.choice((1.0, 0.5, 0.1))
                    record = make_record(trace, "GET", rate, forced=rng.random() < 0.1)
                    out.append(record)
        finally:
            instruments.uninstall()
    base = out[0]["started_at"] - 3600
    for i, record in enumerate(out):
        record["started_at"] = base + rng.uniform(0, 3600) if i % 3 else record["started_at"]
    return out


def _store(alias: str, records: list[dict[str, Any]], old_share: float) -> None:
    rng = random.Random(11)
    rows = []
    for record in records:
        fields = row_fields(record)
        if rng.random() < old_share:  # as the previous version wrote it: no figure columns
            fields = {
                k: fields[k]
                for k in ("created", "view", "method", "status", "wall_ms", "data", "host", "pid", "sample_rate")
            }  # fmt: skip
            fields.update(schema=1, route=(record["route"] or ""))
        rows.append(Sample(**fields))
    Sample.objects.using(alias).bulk_create(rows)


def _old_way(
    alias: str, capacity: CapacityOptions, probes: Sequence[ProbeResult] = ()
) -> dict[str, Any]:
    kept, arrivals = Reservoir(), Arrivals(capacity.interval_s)

    def take(trace: dict[str, Any]) -> None:
        arrivals.add(trace)
        kept.add(trace)

    # Every row decoded and validated, newest first: the reader before read_stored.
    reasons: Counter[str] = Counter()
    rows = Sample.objects.using(alias).annotate(raw=Cast("data", output_field=TextField()))
    for route, view, raw in rows.values_list("route", "view", "raw").iterator():
        trace, error = parse_sample(raw)
        if trace is None:
            reasons[error or "not a trace"] += 1
            continue
        trace.setdefault("route", route)
        trace.setdefault("view", view)
        take(trace)
    notes = [skipped_note(reasons)] if reasons else []
    return build_report(
        None, probes, samples=kept.traces(), thresholds=Thresholds(), notes=notes,
        samples_not_kept=kept.not_kept(), capacity=capacity, arrivals=arrivals,
    )  # fmt: skip


def _new_way(
    alias: str, capacity: CapacityOptions, probes: Sequence[ProbeResult] = (), **caps: int
) -> dict[str, Any]:
    stored = read_stored(alias, interval_s=capacity.interval_s, **caps)
    return build_report(
        None, probes, thresholds=Thresholds(), notes=stored.notes, capacity=capacity,
        stored=stored,
    )  # fmt: skip


def _findings(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (f["code"], f["severity"], f["target"], f.get("route")) for f in report["findings"]
    )


def _rates(report: dict[str, Any]) -> dict[str, tuple[float, float]]:
    return {r["route"]: (r["rate_avg"], r["rate_peak"]) for r in report["capacity"]["routes"]}


@pytest.mark.parametrize("alias", ["default", pytest.param("pg", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("old_share", [0.0, 0.4, 1.0])
@pytest.mark.django_db(databases=["default", "pg"], transaction=True)
def test_columns_give_the_findings_and_route_figures_that_decoding_every_trace_gives(
    records, alias, old_share
):
    _store(alias, records, old_share)
    capacity = CapacityOptions(interval_s=600.0)
    old, new = _old_way(alias, capacity), _new_way(alias, capacity)

    # The corpus shows what it was built to show, so the comparison means something.
    codes = {f["code"] for f in old["findings"]}
    assert {"AA301", "AA305", "AA306", "AA307", "AA308"} <= codes, codes
    assert "" in {r["route"] for r in old["routes"]}

    assert _findings(new) == _findings(old)
    assert new["routes"] == old["routes"]
    assert new["summary"] == old["summary"]
    assert new["summary"]["samples"] == len(records)
    assert new["notes"] == old["notes"]
    old_rates, new_rates = _rates(old), _rates(new)
    assert old_rates.keys() == new_rates.keys() and old_rates
    for route, (avg, peak) in old_rates.items():
        assert new_rates[route] == pytest.approx((avg, peak), rel=1e-9)


@pytest.mark.parametrize("alias", ["default", pytest.param("pg", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("old_share", [0.0, 1.0])
@pytest.mark.django_db(databases=["default", "pg"], transaction=True)
def test_a_route_seen_only_in_error_responses_some_with_evidence_has_the_figures_of_all(
    records, alias, old_share
):
    # Seen in CI-like load: the watchdog caught a stall of the loop in a 404's trace. The
    # 404s were then judged on that trace alone, and their route's figures were its own.
    records = copy.deepcopy(records)
    lagged = [r for r in records if r["status"] == 404][:2]
    for r in lagged:
        r["ev"].append(["loop_lag", 100, 120_000, 0, True, None, [], 100_000, 0])
    _store(alias, records, old_share)
    capacity = CapacityOptions(interval_s=600.0)
    old, new = _old_way(alias, capacity), _new_way(alias, capacity)
    (row,) = [r for r in old["routes"] if r["route"] is None and r["view"] is None]
    assert row["samples"] == 30 and row["measured"] is False  # the 404s and the 301s
    assert _findings(new) == _findings(old)
    assert new["routes"] == old["routes"]


@pytest.mark.parametrize("alias", ["default", pytest.param("pg", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("old_share", [0.0, 0.5, 1.0])
@pytest.mark.django_db(databases=["default", "pg"], transaction=True)
def test_an_error_only_route_with_more_rows_than_are_read_has_the_figures_of_all(
    records, alias, old_share
):
    # Its verdict reads 4 plain error responses of the 30, and all those with evidence (the
    # 3 stalls, and a few threads started on the loop): a sample in which the stalls weigh
    # more than 3/30, and whose figures are not the route's.
    records = copy.deepcopy(records)
    for r in [r for r in records if r["status"] == 404][:3]:
        r["ev"].append(["loop_lag", 100, 120_000, 0, True, None, [], 100_000, 0])
        r["wall_us"] = 150_000  # the stall in its wall time
    _store(alias, records, old_share)
    capacity = CapacityOptions(interval_s=600.0)
    old = _old_way(alias, capacity)  # every trace read
    new = _new_way(alias, capacity, per_route=4, evidence_per_route=20)
    (row,) = [r for r in old["routes"] if r["route"] is None and r["view"] is None]
    assert row["samples"] == 30 and row["measured"] is False and row["p95_ms"] == 150.0
    assert [r for r in new["routes"] if r["route"] is None] == [row]
    assert _findings(new) == _findings(old)

    # Probed too, and answered with 404s: its figures are those of its rows and its probes'.
    plain = [r for r in records if r["status"] == 404 and r["wall_us"] != 150_000][:2]
    probes = [
        ProbeResult("/no-such-page/", 404, parse_sample(json.dumps(r))[0], None, "404")
        for r in plain
    ]
    old = _old_way(alias, capacity, probes)
    new = _new_way(alias, capacity, probes, per_route=4, evidence_per_route=20)
    (row,) = [r for r in old["routes"] if r["route"] is None and r["view"] is None]
    assert row["samples"] == 32 and row["measured"] is False
    assert [r for r in new["routes"] if r["route"] is None] == [row]


@pytest.mark.django_db(databases=["default"], transaction=True)
def test_route_and_since_filter_in_the_query_and_keep_only_matching_routes(records):
    _store("default", records, 0.3)
    stored = read_stored("default", route_glob="pairs/*")
    keys = {t["route"] for t in stored.traces} | set(stored.figures) | set(stored.streamed)
    assert keys and all(k.startswith("pairs/") for k in keys)
    expected = sum(1 for r in records if (r["route"] or "").startswith("pairs/"))
    assert stored.total == expected
    # --since: only rows newer than the cutoff (records spread over the last hour).
    cutoff = time.time() - 1800
    recent = read_stored("default", since=timedelta(minutes=30))
    newer = [r["started_at"] for r in records]
    assert (
        sum(t >= cutoff + 1 for t in newer) <= recent.total <= sum(t >= cutoff - 1 for t in newer)
    )
    assert 0 < recent.total < len(records)
    out = io.StringIO()
    call_command("async_audit", "--format", "json", "--route", "pairs/db/*", stdout=out)
    routes = json.loads(out.getvalue())["routes"]
    assert [r["route"] for r in routes] == ["pairs/db/sync/"]
    assert routes[0]["samples"] == PAGES["/pairs/db/sync/"]


@pytest.mark.django_db(databases=["default"], transaction=True)
def test_only_a_bounded_number_of_traces_per_route_is_decoded(records):
    _store("default", records, 0.0)
    stored = read_stored("default", per_route=5, evidence_per_route=2)
    per_route: dict[str, int] = {}
    for t in stored.traces:
        per_route[route_key(t)] = per_route.get(route_key(t), 0) + 1
    # 5 measured without evidence, 2 with, 2 error responses with: at most 9 a route.
    assert per_route and max(per_route.values()) <= 9
    # Figures still count every sample.
    assert stored.figures["pairs/db/sync/"]["samples"] == PAGES["/pairs/db/sync/"]
    assert stored.total == len(records)
