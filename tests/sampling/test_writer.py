from __future__ import annotations

import json
import logging
import os
import signal
import tracemalloc

import pytest
from django.db import connections

from async_audit.models import Sample, SamplingCounters
from async_audit.sampling.sinks import DatabaseSink, FileSink
from async_audit.sampling.writer import Writer
from async_audit.storage import parse_sample
from async_audit.trace.owner import OwnedTrace


def _trace(route: str | None = "sync/"):
    owned = OwnedTrace("GET")
    trace = owned.finish(200)
    if route is not None:
        owned.name(route, "tests.testapp.views.sync_view", False)
    return trace


def _idle_writer(sink, **kw) -> Writer:
    """A writer whose thread never wakes by itself: the test flushes when it wants."""
    kw.setdefault("flush_seconds", 1000.0)
    kw.setdefault("batch_size", 10_000)
    return Writer(sink, **kw)


def _lines(path):
    return [json.loads(line) for line in open(path)]


def test_every_queued_sample_is_written_to_the_file_with_its_origin_and_rate(tmp_path):
    path = tmp_path / "samples.jsonl"
    w = _idle_writer(FileSink(str(path)))
    for _ in range(25):
        w.submit(_trace(), "GET", 0.5, False)
    w.flush()
    lines = _lines(path)
    samples = [d for d in lines if d.get("kind") != "sampling_counters"]
    assert len(samples) == 25
    assert {(d["route"], d["host"], d["pid"], d["sample_rate"]) for d in samples} == {
        ("sync/", os.uname().nodename[:255], os.getpid(), 0.5)
    }
    assert all(isinstance(d["started_at"], float) and d["method"] == "GET" for d in samples)
    assert all(parse_sample(json.dumps(d))[0]["label"] == "GET sync/" for d in samples)
    counters = [d for d in lines if d.get("kind") == "sampling_counters"][-1]
    assert (counters["sampled"], counters["stored"], counters["dropped"]) == (25, 25, {})


def test_a_full_queue_drops_without_waiting_counts_the_drops_and_stays_bounded(tmp_path):
    w = _idle_writer(FileSink(str(tmp_path / "s.jsonl")), queue_size=5)
    for _ in range(20):
        w.submit(_trace(), "GET", 1.0, False)
    assert len(w._queue) == 5
    w.flush()
    c = w.counters()
    assert (c["sampled"], c["stored"], c["dropped"]) == (20, 5, {"queue_full": 15})


def test_queue_memory_stays_bounded_under_a_flood(tmp_path):
    w = _idle_writer(FileSink(str(tmp_path / "s.jsonl")), queue_size=100)
    for _ in range(200):  # warm up allocations
        w.submit(_trace(), "GET", 1.0, False)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5000):
            w.submit(_trace(), "GET", 1.0, False)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(w._queue) == 100
    assert grown < 200_000, grown  # 5000 dropped traces did not pile up
    assert w.counters()["dropped"]["queue_full"] == 5100


def test_an_unwritable_file_drops_by_reason_logs_once_and_writing_resumes(tmp_path, caplog):
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the directory should be")
    path = blocker / "samples.jsonl"
    w = _idle_writer(FileSink(str(path)), flush_seconds=0.001)
    with caplog.at_level(logging.WARNING, logger="async_audit"):
        for _ in range(3):
            w.submit(_trace(), "GET", 1.0, False)
            w.flush()
    assert w.counters()["dropped"] == {"file_error": 3}
    assert any(
        "3 file_error" in r.getMessage() or "file_error" in r.getMessage() for r in caplog.records
    )
    blocker.unlink()
    blocker.mkdir()  # the disk is back
    w.submit(_trace(), "GET", 1.0, False)
    w.flush()
    samples = [d for d in _lines(path) if d.get("kind") != "sampling_counters"]
    assert len(samples) == 1
    assert w.counters()["stored"] == 1


def test_a_trace_no_route_resolved_is_not_stored_and_says_why(tmp_path):
    w = _idle_writer(FileSink(str(tmp_path / "s.jsonl")))
    w.submit(_trace(route=None), "GET", 1.0, False)
    w.flush()
    assert w.counters()["dropped"] == {"no_route": 1}


@pytest.mark.django_db(transaction=True)
def test_the_database_sink_inserts_rows_and_the_writers_counters():
    w = _idle_writer(DatabaseSink("default"))
    for _ in range(7):
        w.submit(_trace(), "GET", 0.25, False)
    w.flush()
    rows = list(Sample.objects.all())
    assert len(rows) == 7
    assert {(r.route, r.host, r.pid, r.sample_rate, r.method) for r in rows} == {
        ("sync/", os.uname().nodename[:255], os.getpid(), 0.25, "GET")
    }
    counters = SamplingCounters.objects.get()
    assert (counters.sampled, counters.stored, counters.dropped) == (7, 7, {})


@pytest.mark.django_db(transaction=True)
def test_a_sample_whose_columns_cannot_be_made_is_dropped_alone_as_an_export_error(monkeypatch):
    from async_audit.sampling import record

    real = record.sample_columns

    def columns(r):
        if r["route"] == "broken/":
            raise ValueError("a trace the figures cannot read")
        return real(r)

    monkeypatch.setattr(record, "sample_columns", columns)
    w = _idle_writer(DatabaseSink("default"))
    for route in ("sync/", "broken/", "sync/"):
        w.submit(_trace(route), "GET", 1.0, False)
    w.flush()
    # The batch's other samples are stored; the one is counted, not the batch as a
    # database error.
    assert Sample.objects.count() == 2
    c = w.counters()
    assert (c["sampled"], c["stored"], c["dropped"]) == (3, 2, {"export_error": 1})


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "pg"], transaction=True)
def test_a_database_that_goes_down_drops_by_reason_and_writing_resumes_when_it_returns():
    w = _idle_writer(DatabaseSink("pg"))
    settings_dict = connections["pg"].settings_dict
    port = settings_dict["PORT"]
    connections["pg"].close()
    settings_dict["PORT"] = "1"  # nothing listens there: the database is down
    try:
        for _ in range(4):
            w.submit(_trace(), "GET", 1.0, False)
        w.flush()
        assert w.counters()["dropped"] == {"database_error": 4}
    finally:
        settings_dict["PORT"] = port
    w.submit(_trace(), "GET", 1.0, False)
    w.flush()
    assert Sample.objects.using("pg").count() == 1
    assert SamplingCounters.objects.using("pg").get().dropped == {"database_error": 4}


def test_the_background_thread_flushes_on_its_own_and_at_close(tmp_path):
    path = tmp_path / "s.jsonl"
    w = Writer(FileSink(str(path)), flush_seconds=0.05, batch_size=3)
    for _ in range(10):
        w.submit(_trace(), "GET", 1.0, False)
    w.close()
    assert w.counters()["stored"] == 10
    assert len([d for d in _lines(path) if d.get("kind") != "sampling_counters"]) == 10


@pytest.mark.django_db(transaction=True)
def test_a_locked_table_drops_by_reason_without_waiting_and_writing_resumes():
    import threading

    from django.db import connection

    w = _idle_writer(DatabaseSink("default"))

    def flush_elsewhere() -> None:
        # The writer's own thread, with its own connection, as in production.
        t = threading.Thread(target=w.flush)
        t.start()
        t.join(30)

    cursor = connection.cursor()
    cursor.execute("BEGIN IMMEDIATE")
    cursor.execute("DELETE FROM async_audit_sample")  # holds the table's write lock
    try:
        for _ in range(3):
            w.submit(_trace(), "GET", 1.0, False)
        flush_elsewhere()
        assert w.counters()["dropped"] == {"database_error": 3}
    finally:
        cursor.execute("COMMIT")
    w.submit(_trace(), "GET", 1.0, False)
    flush_elsewhere()
    assert Sample.objects.count() == 1
    assert w.counters()["stored"] == 1


class _StuckSink:
    """Storage that hangs (a database host that drops packets): writes wait for ``release``."""

    reason = "database_error"
    name = "stuck"

    def __init__(self) -> None:
        import threading

        self.writing = threading.Event()
        self.go_on = threading.Event()

    def prepare(self, record):
        return record

    def write(self, records) -> None:
        self.writing.set()
        self.go_on.wait(30)

    def write_counters(self, counters) -> None:
        pass

    def prune(self, days: int) -> int:
        return 0

    def release(self, broken: bool = False) -> None:
        pass


def test_at_exit_a_batch_stuck_in_storage_is_counted_and_logged_as_dropped(caplog):
    sink = _StuckSink()
    w = Writer(sink, flush_seconds=0.01, batch_size=4)
    for _ in range(4):
        w.submit(_trace(), "GET", 1.0, False)
    assert sink.writing.wait(10)  # the thread holds all four, stuck in the write
    for _ in range(2):
        w.submit(_trace(), "GET", 1.0, False)
    with caplog.at_level(logging.WARNING, logger="async_audit"):
        w.close(timeout=0.2)
    assert w.counters()["dropped"] == {"shutdown": 6}
    assert "samples dropped: 6 shutdown" in caplog.text
    sink.go_on.set()  # the stuck write returns after the last word: it changes nothing
    w._thread.join(10)
    c = w.counters()
    assert (c["sampled"], c["stored"], c["dropped"]) == (6, 0, {"shutdown": 6})


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")
def test_a_forked_child_starts_with_its_own_queue_counters_and_free_locks(tmp_path):
    # gunicorn --preload forks workers from a process that may have sampled: a lock held by
    # a parent thread at the fork would stay held in the child for ever.
    path = tmp_path / "s.jsonl"
    w = _idle_writer(FileSink(str(path)))
    w.submit(_trace(), "GET", 1.0, False)  # the parent's, queued, never the child's
    with w._lock, w._log_lock:
        pid = os.fork()
        if pid == 0:  # the child: must neither hang nor write the parent's sample
            ok = False
            signal.alarm(10)  # a held lock would hang it: end it instead
            try:
                w.submit(_trace("async/"), "GET", 1.0, False)
                w.close(timeout=5)
                c = w.counters()
                ok = (c["sampled"], c["stored"], c["pid"]) == (1, 1, os.getpid())
            finally:
                os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    samples = [d for d in _lines(path) if d.get("kind") != "sampling_counters"]
    assert [(d["route"], d["pid"]) for d in samples] == [("async/", pid)]
    assert w.counters()["queued"] == 1  # the parent's sample is still the parent's


def test_a_file_line_is_exactly_what_json_dumps_writes_of_the_record():
    # The sink keeps one C encoder for every line: its text must not differ from the
    # standard library's, escapes and number forms included.
    record = {
        "route": "café/<slug>/\n\"x\"", "started_at": 1796302193.215537, "rate": 0.01,
        "ev": [["hop", 0, None, 1, True, "sync_to_async", "é", -0.0, 1e300]], "tags": {},
    }  # fmt: skip
    assert FileSink("/dev/null").prepare(record) == json.dumps(record, separators=(",", ":")) + "\n"
    with pytest.raises(TypeError):
        FileSink("/dev/null").prepare({"x": object()})
