from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
from django.core.management import call_command
from django.test import override_settings

import async_audit
from async_audit.models import Sample
from async_audit.report import render
from async_audit.sampling.decide import FORCE_HEADER, token_valid
from async_audit.sampling.sinks import FileSink, prune_samples
from async_audit.sampling.writer import Writer
from async_audit.trace.owner import OwnedTrace


def _record_writer(sink) -> Writer:
    w = Writer(sink, flush_seconds=1000.0, batch_size=10_000)
    for route in ("sync/", "sync/", "async/"):
        owned = OwnedTrace("GET")
        owned.name_from_path("/" + route)
        w.submit(owned.finish(200), "GET", 0.5, False)
    return w


def _json_report(*args: str) -> dict:
    out = io.StringIO()
    call_command("async_audit", "--format", "json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_the_report_reads_a_samples_file_and_shows_sampling_health(tmp_path):
    path = tmp_path / "s.jsonl"
    w = _record_writer(FileSink(str(path)))
    w.queue_size = 3
    w.submit(OwnedTrace("GET").finish(200), "GET", 0.5, False)  # queue full: dropped
    w.flush()
    report = _json_report("--samples-file", str(path))
    assert report["summary"]["samples"] == 3
    assert report["sampling"] == {
        "source": "file", "processes": 1, "hosts": 1, "sampled": 4, "stored": 3,
        "dropped": {"queue_full": 1}, "dropped_total": 1,
    }  # fmt: skip
    schema = json.loads((Path(async_audit.__file__).parent / "report" / "schema.json").read_text())
    jsonschema.validate(report, schema)
    text = io.StringIO()
    call_command("async_audit", "--samples-file", str(path), stdout=text)
    line = "4 request(s) sampled, 3 stored, 1 dropped (1 queue_full)"
    assert f"sampling: {line}" in text.getvalue()
    assert f"Sampling: {line}" in render(report, "markdown")
    assert f"sampling: {line}" in render(report, "html")


@pytest.mark.django_db(transaction=True)
def test_the_report_shows_the_writers_counters_from_the_database():
    from async_audit.sampling.sinks import DatabaseSink

    _record_writer(DatabaseSink("default")).flush()
    report = _json_report()
    assert report["summary"]["samples"] == 3
    assert report["sampling"]["sampled"] == report["sampling"]["stored"] == 3
    assert {r["route"] for r in report["routes"]} >= {"sync/", "async/"}


@pytest.mark.django_db(transaction=True)
def test_prune_deletes_old_samples_in_bounded_batches_and_keeps_recent_ones():
    from async_audit.sampling.sinks import DatabaseSink

    _record_writer(DatabaseSink("default")).flush()
    old = datetime.now(timezone.utc) - timedelta(days=30)
    template = Sample.objects.first()
    Sample.objects.bulk_create(
        [
            Sample(created=old, route="old/", view="v", wall_ms=1.0, data=template.data)
            for _ in range(25)
        ]
    )
    assert prune_samples("default", 7, batch=10) == 25
    assert Sample.objects.count() == 3
    out = io.StringIO()
    with override_settings(ASYNC_AUDIT={"RETENTION_DAYS": 7}):
        call_command("async_audit", "--prune", stdout=out)
    assert "pruned 0 sample(s) older than 7 day(s)" in out.getvalue()


def test_sample_token_prints_a_header_that_forces_that_path():
    out = io.StringIO()
    call_command("async_audit", "--sample-token", "/sync/", stdout=out)
    name, _, token = out.getvalue().strip().partition(": ")
    assert name == FORCE_HEADER and token_valid(token, "/sync/")
