"""The stored form (schema 4, compact) reads back as the trace schema 2 stored.

Schemas 3 and 4 keep times as integer microseconds in positional lists and derive the rest
when a row is read; schema 4 writes hops and a trace's defaults shorter. Whatever the form,
the report must see the same traces, the same columns and so the same findings and figures;
rows of schemas 2 and 3 stay readable; a compact row this package did not write is skipped
and counted, never fatal.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from async_audit.asgi_client import asgi_request
from async_audit.models import Sample
from async_audit.report import build_report
from async_audit.sampling.read import read_stored
from async_audit.sampling.record import HOST, SCHEMA, make_record, row_fields
from async_audit.storage import as_trace, parse_sample
from async_audit.trace import traced
from async_audit.trace.asgi import TracedASGIApp
from async_audit.trace.compact import HOP, HOP_TAIL
from async_audit.trace.core import Trace
from async_audit.trace.events import (
    BlockingCall,
    CacheCall,
    Hop,
    HttpCall,
    LoopLag,
    Query,
    RaisedException,
    ViewCall,
)
from async_audit.verdicts import Thresholds
from tests.trace.test_export import CustomEvent, TimedQuery


def _schema2(trace: Trace, method: str, rate: float, forced: bool) -> dict[str, Any]:
    """What ``make_record`` stored before schema 3 (kept here to compare with)."""
    d = trace.to_dict(private=False)
    d["label"] = f"{method} {d['route']}"
    for e in d["events"]:
        if e["kind"] == "http":
            e["path"] = ""
    d.update(method=method, host=HOST, pid=os.getpid(), sample_rate=rate, forced=forced, schema=2)
    return d


def _same(a: Any, b: Any, where: str = "", loose: bool = False) -> None:
    """Equal, but for times: an event's may differ by a microsecond (a difference of two
    rounded times instead of a rounded difference), so a sum over a hundred hops by a
    hundred, and a route figure (to 0.01 ms) by its last digit."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), (where, a.keys() ^ b.keys())
        for k in a:
            _same(a[k], b[k], f"{where}.{k}", loose)
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]", loose)
    elif isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), (where, a, b)
        if loose:
            assert math.isclose(a, b, rel_tol=0.002, abs_tol=0.011), (where, a, b)
        else:
            assert math.isclose(a, b, abs_tol=0.0021), (where, a, b)
    else:
        assert a == b, (where, a, b)


def _one_of_each() -> Trace:
    site = ("/app/views.py", 12, "index")
    with traced("GET /x") as trace:
        trace.route, trace.view, trace.status = "x/", "app.views.index", 200
        t0 = trace.t0
        ms = 0.001
        trace.add(
            ViewCall(t0 + 1 * ms, t0 + 9 * ms, 1, True, name="app.views.index", is_async=True)
        )
        trace.add(Hop(t0 + 2 * ms, t0 + 6 * ms, 1, True, target="m.f", site=site,
                      run_start=t0 + 3 * ms, run_end=t0 + 5 * ms, run_thread=2, cpu=0.0015))  # fmt: skip
        trace.add(Hop(t0 + 3.5 * ms, t0 + 4.5 * ms, 2, False, direction="async_to_sync",
                      target="m.g", nested=True, error="ValueError"))  # fmt: skip
        trace.add(Hop(t0 + 7 * ms, None, 1, True, target="m.h"))
        trace.add(Query(t0 + 4 * ms, t0 + 4.5 * ms, 2, False, vendor="sqlite",
                        sql="SELECT 1 FROM t WHERE a = 'secret'", many=True))  # fmt: skip
        trace.add(Query(t0 + 4.6 * ms, t0 + 4.7 * ms, 2, False, sql="SELECT 2"))
        trace.add(HttpCall(t0 + 5 * ms, t0 + 8 * ms, 1, True, client="httpx", method="GET",
                           host="api.example", port=443, path="/v1/user/42", status=200))  # fmt: skip
        trace.add(CacheCall(t0 + 5.5 * ms, t0 + 5.6 * ms, 1, True, backend="locmem",
                            alias="default", op="get", hit=False))  # fmt: skip
        trace.add(BlockingCall(t0 + 6 * ms, t0 + 6.25 * ms, 1, True, call="time.sleep",
                               category="sleep", site=site, stack=[site]))  # fmt: skip
        trace.add(LoopLag(t0 + 6.5 * ms, t0 + 60 * ms, 1, True, site=None, stack=[site],
                          cpu=0.05, queued=0.001))  # fmt: skip
        trace.add(RaisedException(t0 + 8.5 * ms, t0 + 8.5 * ms, 1, True,
                                  type_name="builtins.KeyError", message="user 42"))  # fmt: skip
        trace.add(CustomEvent(t0 + 0.5 * ms, None, 1, True))
    return trace


def _real_traces() -> list[Trace]:
    """Requests of the test app through Django's ASGI handler, instruments on: hops,
    queries, a blocking sleep on the loop, an error response, a 404."""
    from django.core.asgi import get_asgi_application

    from async_audit import instruments

    if not instruments.installed():
        instruments.install()  # the conftest's autouse fixture takes them off again

    traces: list[Trace] = []
    app = TracedASGIApp(get_asgi_application(), traces.append)
    paths = ["/async/", "/sync/", "/pairs/db/async/", "/pairs/db/sync/", "/async-sleep/",
             "/async-sync-orm/", "/hop-heavy-async/", "/nowhere/"]  # fmt: skip

    async def run() -> None:
        for path in paths:
            await asgi_request(app, path)

    asyncio.run(run())
    assert len(traces) == len(paths)
    return traces


def test_every_kind_reads_back_as_schema_2_stored_it_and_nothing_private_is_kept():
    trace = _one_of_each()
    record = make_record(trace, "GET", 0.5, False)
    text = json.dumps(record)
    assert record["schema"] == SCHEMA == 4
    for secret in ("secret", "user 42", "/v1/user/42"):
        assert secret not in text  # the SQL's literal, the exception's message, the path
    back, error = parse_sample(text)
    assert error is None, error
    old = _schema2(trace, "GET", 0.5, False)
    _same({**back, "schema": 2}, old)
    assert "custom" in [e["kind"] for e in back["events"]]
    assert len(text) < 0.7 * len(json.dumps(old))
    # The hop still running when the response went out is in the view's window: judged by
    # its start, it does not break the columns (it used to raise in the writer).
    assert row_fields(record)["hops"] == 3


def test_a_hop_like_djangos_own_is_written_short_and_any_other_in_full():
    with traced("GET /x") as trace:
        trace.route, trace.status = "x/", 200
        t0, me, ms = trace.t0, trace.thread, 0.001
        trace.add(Hop(t0 + 1 * ms, t0 + 4 * ms, me, True, target="m.f",
                      run_start=t0 + 2 * ms, run_end=t0 + 3 * ms, run_thread=7, cpu=0.001))  # fmt: skip
        trace.add(Hop(t0 + 2.5 * ms, t0 + 2.8 * ms, 7, False, direction="async_to_sync",
                      target="m.g", nested=True, error="ValueError"))  # fmt: skip
        trace.add(Hop(t0 + 5 * ms, None, me, True, target="m.h"))  # never ended
        trace.add(Hop(t0 + 6 * ms, t0 + 7 * ms, me, True, target="m.i", thread_sensitive=False))
    record = make_record(trace, "GET", 0.5, False)
    hops = [row for row in record["ev"] if type(row[0]) is int]
    assert len(hops) == len(record["ev"]) == 4
    full = len(HOP) + len(HOP_TAIL)
    assert [len(row) for row in hops] == [len(HOP), full, len(HOP), full]
    assert hops[0] == [1000, 3000, "m.f", None, 1000, 1000, 1000, 1]
    assert hops[1][len(HOP) :] == [1, False, "async_to_sync", True, True, "ValueError"]
    assert hops[3][len(HOP) :] == [0, True, "sync_to_async", False, False, None]
    assert record["threads"] == [me, 7]
    # A trace's defaults are not written, and read back.
    for key in ("label", "forced", "tags", "shared_thread", "dropped_events"):
        assert key not in record, key
    back, error = parse_sample(json.dumps(record))
    assert error is None, error
    assert back["label"] == "GET x/" and back["forced"] is False and back["tags"] == {}
    assert back["summary"]["dropped_events"] == 0 and back["shared_thread"] is False
    assert [h["target"] for h in back["events"]] == ["m.f", "m.g", "m.h", "m.i"]
    assert back["events"][1]["thread"] == 7 and back["events"][1]["error"] == "ValueError"
    assert back["events"][2]["end_ms"] is None and back["events"][3]["thread_sensitive"] is False
    _same({**back, "schema": 2}, _schema2(trace, "GET", 0.5, False))


def test_rows_of_schema_3_read_as_they_did():
    """Rows the previous version wrote (a made trace of every kind, then real requests of
    the test app, one forced, one tagged), with what it read them as."""
    with open(os.path.join(os.path.dirname(__file__), "schema3_rows.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) == 9 and all(r["row"]["schema"] == 3 for r in rows)
    for r in rows:
        back, error = parse_sample(json.dumps(r["row"]))
        assert error is None, error
        assert back == r["expanded"]
        fields = row_fields(r["row"])
        assert fields["schema"] == 3 and fields["data"] is r["row"]


def test_a_subclass_of_a_known_kind_is_stored_as_that_kind():
    with traced("GET /x") as trace:
        trace.route = "x/"
        trace.add(TimedQuery(trace.t0, trace.t0 + 0.002, 1, True, vendor="sqlite", sql="SELECT 2"))
    back, error = parse_sample(json.dumps(make_record(trace, "GET", 1.0, False)))
    assert error is None, error
    (query,) = back["events"]
    assert (
        query["kind"] == "query"
        and query["fingerprint"] == "SELECT ?"
        and query["duration_ms"] == 2.0
    )


@pytest.mark.django_db(transaction=True)
def test_real_requests_read_back_the_same_and_make_the_same_columns():
    for trace in _real_traces():
        record = make_record(trace, "GET", 1.0, False)
        old = _schema2(trace, "GET", 1.0, False)
        back, error = as_trace(json.loads(json.dumps(record)))
        assert error is None, error
        _same({**back, "schema": 2}, old, trace.label, loose=True)
        new_row, old_row = row_fields(record), row_fields(old)
        assert new_row["schema"] == 4 and old_row["schema"] == 2
        assert new_row["data"] is record  # the compact form is what is stored
        for row in (new_row, old_row):
            del row["data"], row["schema"]
        _same(new_row, old_row, trace.label, loose=True)


def _store(alias: str, records: list[dict[str, Any]]) -> None:
    Sample.objects.using(alias).bulk_create([Sample(**row_fields(r)) for r in records])


@pytest.mark.parametrize("alias", ["default", pytest.param("pg", marks=pytest.mark.postgres)])
@pytest.mark.django_db(databases=["default", "pg"], transaction=True)
def test_the_report_over_compact_rows_is_the_report_over_schema_2_rows(alias):
    traces = _real_traces() * 25  # 200 samples
    reports = []
    for make in (make_record, _schema2):
        Sample.objects.using(alias).all().delete()
        _store(alias, [make(t, "GET", 1.0, False) for t in traces])
        stored = read_stored(alias)
        assert stored.total == len(traces) and not stored.reasons
        reports.append(
            build_report(None, thresholds=Thresholds(), notes=stored.notes, stored=stored)
        )
    new, old = reports
    findings = sorted(
        (f["code"], f["severity"], f["target"], f.get("route")) for f in new["findings"]
    )
    assert findings == sorted(
        (f["code"], f["severity"], f["target"], f.get("route")) for f in old["findings"]
    )
    assert {"AA301"} <= {f[0] for f in findings}, findings  # the blocking sleep, from evidence
    _same(new["routes"], old["routes"], loose=True)
    assert {"async-sleep/", "pairs/db/async/"} <= {r["route"] for r in new["routes"]}


@pytest.mark.django_db(transaction=True)
def test_a_compact_row_that_does_not_read_is_skipped_and_counted():
    good = make_record(_one_of_each(), "GET", 1.0, False)
    bad = [
        {**good, "ev": "not a list"},
        {**good, "ev": [["hop", 1, 2, 3, True]]},  # a hop without its fields
        {**good, "ev": [["query", "1", 2, 0, True, "default", "sqlite", "SELECT ?", False, None]]},
        {**good, "wall_us": "150"},
        {**good, "ev": [[5, 1, 2, 3, True]]},
        {**good, "threads": "not a list"},
        {**good, "threads": []},  # every event's thread index points nowhere
        {**good, "sites": []},  # every hop's site index points nowhere
        {**good, "sites": [7] * len(good["sites"])},
        {**good, "ev": [["blocking", 1, 2, 0, True, "time.sleep", "sleep", None, "x"]]},
        {**good, "ev": [[1, 2, "m.f", None, 0, 0, 0, 0, 0]]},  # a hop of 9 fields
        {
            **good,
            "ev": [[1, 2, "m.f", None, 0, 0, 0, 0, 99, True, "sync_to_async", True, False, None]],
        },  # its thread points nowhere
        {**good, "ev": [[1, 2, "m.f", 5, 0, 0, 0, 0]]},  # its site points nowhere
        {**good, "ev": [[1, "2", "m.f", None, 0, 0, 0, 0]]},
        {**good, "ev": [[10**400, 2, "m.f", None, 0, 0, 0, 0]]},  # too big for a float
        {**good, "ev": [[1, 2, "m.f", None, 10**400, 0, 0, 0]]},
        {**good, "owner_cpu_us": 10**400},
        {**good, "schema": 3, "ev": [[1, 2, "m.f", None, 0, 0, 0, 0]]},  # not a hop in 3
    ]
    with connections["default"].cursor() as cursor:
        for record in [good, *bad]:
            cursor.execute(
                "INSERT INTO async_audit_sample (created, route, view, method, status, wall_ms,"
                " schema, data) VALUES (%s, 'x/', 'app.views.index', 'GET', 200, 60, 3, %s)",
                [timezone.now(), json.dumps(record)],
            )
    stored = read_stored("default")
    traces = stored.traces
    assert len(traces) == 1 and traces[0]["events"]
    note = stored.skipped()
    assert note is not None and note.startswith(f"{len(bad)} stored sample(s) skipped"), note
