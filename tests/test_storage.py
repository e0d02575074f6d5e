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
