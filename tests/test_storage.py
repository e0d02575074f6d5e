"""Stored rows that are not good traces are skipped and counted; the report stays strict JSON."""

from __future__ import annotations

import json

import pytest
from django.db import connections
from django.utils import timezone

from async_audit.report import build_report, render
from async_audit.sampling.read import read_stored
from tests.command.samples import sample_trace

GOOD = json.dumps(sample_trace(150.0))


def _bad_rows(vendor):
    good = sample_trace(150.0)
    rows = {
        "strings for numbers": json.dumps({**good, "wall_ms": "150"}),
        "a list for summary": json.dumps({**good, "summary": []}),
        "null targets": GOOD.replace('"target": "tests.command.project.fanout"', '"target": null'),
        "a numeric route": json.dumps({**good, "route": 5}),
        "ten to the 400th": GOOD.replace('"cpu_ms": 3.0', '"cpu_ms": 1' + "0" * 400),
        "1e400": GOOD.replace('"cpu_ms": 3.0', '"cpu_ms": 1e400'),
        "nested 1,000 deep": json.dumps({**good, "tags": {}}).replace(
            '"tags": {}', '"tags": {"x": ' + "[" * 1000 + "]" * 1000 + "}"
        ),
    }
    if vendor == "sqlite":  # PostgreSQL's jsonb refuses these itself
        rows["NaN"] = GOOD.replace('"cpu_ms": 3.0', '"cpu_ms": NaN')
        rows["Infinity"] = GOOD.replace('"duration_ms": 148.0', '"duration_ms": Infinity')
    assert all(r != GOOD for r in rows.values())
    return rows


def _insert(alias, raw_rows):
    connection = connections[alias]
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # Rows written before the JSON_VALID check, or by another writer: bypass it.
            cursor.execute("PRAGMA ignore_check_constraints = ON")
        for raw in raw_rows:
            cursor.execute(
                "INSERT INTO async_audit_sample (created, route, view, method, status, wall_ms, schema, data)"
                f" VALUES (%s, 'fanout/', 'tests.command.project.fanout', 'GET', 200, 150, 1, %s{cast})",
                [timezone.now(), raw],
            )
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA ignore_check_constraints = OFF")


def _strict(text):
    def refuse(name):
        raise ValueError(f"{name} in the JSON output")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    "alias",
    ["default", pytest.param("pg", marks=pytest.mark.postgres)],
)
@pytest.mark.django_db(databases=["default", "pg"], transaction=True)
def test_rows_with_wrong_types_are_skipped_and_counted_and_the_report_stays_strict(alias):
    bad = _bad_rows(connections[alias].vendor)
    _insert(alias, [GOOD, *bad.values(), GOOD])
    stored = read_stored(alias)  # rows of schema 1: each decoded and checked
    traces = stored.traces
    assert len(traces) == 2 and all(t["wall_ms"] == 150.0 for t in traces)
    notes = [stored.skipped()]
    (note,) = notes
    assert note.startswith(
        f"{len(bad)} stored sample(s) skipped: not a trace in the expected shape ("
    )
    report = build_report(None, samples=traces, notes=notes)
    for fmt in ("json", "text", "markdown", "html"):
        assert render(report, fmt)
    assert _strict(render(report, "json"))["summary"]["samples"] == 2


def test_a_figure_that_is_not_finite_becomes_null_with_a_note():
    report = build_report(None, samples=[sample_trace(150.0)])
    assert "1 figure(s)" not in " ".join(report["notes"])
    trace = sample_trace(150.0)
    trace["cpu_ms"] = float("nan")  # not from storage, where it is refused: from a probe, say
    report = build_report(None, samples=[trace])
    assert any("not finite" in n for n in report["notes"])
    _strict(render(report, "json"))


def _hostile_sample_lines():
    good = sample_trace(150.0)
    return [
        *_bad_rows("sqlite").values(),
        json.dumps({**good, "started_at": "yesterday"}),
        json.dumps({**good, "sample_rate": 1e-320}),  # 1 / rate is infinite
        json.dumps({**good, "sample_rate": 1e-12}),  # a load no plan can be searched for
        "[" * 100_000 + "]" * 100_000,  # past the recursion limit
    ]


def _command_json(*args):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("async_audit", "--format", "json", *args, stdout=out)
    return _strict(out.getvalue())


def test_a_samples_file_of_hostile_lines_is_read_with_each_bad_line_skipped(tmp_path):
    good = sample_trace(150.0)
    counters = {"kind": "sampling_counters", "host": "h", "pid": 1, "boot": 1.0, "sampled": 2,
                "stored": 2, "dropped": {}}  # fmt: skip
    bad_counters = [
        {**counters, "pid": 2, "sampled": "x"},
        {**counters, "pid": 3, "dropped": {"queue_full": "x"}},
        {**counters, "pid": 4, "dropped": [1, 2]},
    ]
    lines = [json.dumps(good), *_hostile_sample_lines(), json.dumps(good)]
    lines += [json.dumps(c) for c in (counters, *bad_counters)]
    # A number past a float's range: JSON, and read as inf.
    lines.append(json.dumps({**counters, "pid": 5, "dropped": {"queue_full": 1}}).replace(
        '"queue_full": 1}', '"queue_full": 1e400}'))  # fmt: skip
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(lines) + "\n")
    for since in ([], ["--since", "7d"]):
        report = _command_json("--samples-file", str(path), *since)
        assert report["summary"]["samples"] == (0 if since else 2)  # sample_trace is old
        assert any(f"{len(lines) - 7} line(s)" in n for n in report["notes"]), report["notes"]
        assert report["sampling"]["sampled"] == 2 and report["sampling"]["bad_rows"] == 4


@pytest.mark.parametrize(
    "alias",
    ["default", pytest.param("pg", marks=pytest.mark.postgres)],
)
@pytest.mark.django_db(databases=["default", "pg"], transaction=True)
def test_counters_rows_of_the_wrong_types_are_left_out_and_counted(alias):
    from async_audit.models import SamplingCounters
    from async_audit.sampling.health import read_health_db

    now = timezone.now()
    for pid, dropped in enumerate([{"queue_full": 3}, {"queue_full": "x"}, [1, 2]]):
        SamplingCounters.objects.using(alias).create(
            host="h", pid=pid, boot=1.0, updated=now, sampled=5, stored=2, dropped=dropped
        )
    health = read_health_db(alias)
    assert health is not None
    assert (health["processes"], health["bad_rows"], health["dropped"]) == (1, 2, {"queue_full": 3})
