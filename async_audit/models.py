"""Stored samples: compact, privacy-safe traces of real requests, in the project's database.

A row holds one request's trace in its stored form (since schema 3 the compact one of
``trace/compact.py``, before it ``Trace.to_dict()``; SQL reduced to fingerprints, no query
strings, headers, bodies, cookies or parameters). The sampling middleware writes them;
``manage.py async_audit`` reads and aggregates them (``storage.parse_sample`` gives every
schema in the one dict form).
"""

from __future__ import annotations

from django.db import models

__all__ = ["Sample", "SamplingCounters"]


# Every column the report aggregates, and the id it draws kept rows by (PostgreSQL keeps
# no primary key in an index entry): see the index on ``Sample``.
FIGURE_INDEX = [
    "route", "measured", "evidence", "forced", "created", "started_at", "sample_rate",
    "dropped_events", "wall_ms", "io_ms", "cpu_ms", "hops", "hop_ms", "predicted_async_ms",
    "user_blocking", "io_http_ms", "io_db_ms", "io_cache_ms", "io_file_ms", "io_sleep_ms",
    "io_other_ms", "id",
]  # fmt: skip


class Sample(models.Model):
    created = models.DateTimeField(db_index=True)
    route = models.CharField(max_length=400, db_index=True)
    view = models.CharField(max_length=400)
    method = models.CharField(max_length=10, default="GET")
    status = models.PositiveSmallIntegerField(null=True)
    wall_ms = models.FloatField()
    schema = models.PositiveSmallIntegerField(default=1)
    data = models.JSONField()
    # Who wrote it and at which rate: traffic per route is samples / rate / window.
    # Database defaults too: a worker still running the previous version during a rolling
    # deploy inserts rows without these columns.
    host = models.CharField(max_length=255, default="", db_default="")
    pid = models.PositiveIntegerField(default=0, db_default=0)
    sample_rate = models.FloatField(null=True)
    # Schema 2: what the report needs of the sample, computed once by the writer
    # (``async_audit.verdicts.figures.request_row`` and the flags below), so that a route's
    # figures are an aggregate over columns and only a few full traces are ever decoded.
    # NULL in rows of schema 1: the reader decodes those and computes the same in Python.
    started_at = models.FloatField(null=True)  # epoch seconds: arrival-rate intervals
    forced = models.BooleanField(null=True)  # the signed header, not the random draw
    measured = models.BooleanField(
        null=True
    )  # the view made the response (not 4xx/5xx or a redirected GET)
    evidence = models.BooleanField(null=True)  # a blocking call, stall or exception
    dropped_events = models.PositiveIntegerField(null=True)
    io_ms = models.FloatField(null=True)
    cpu_ms = models.FloatField(null=True)
    hops = models.PositiveIntegerField(null=True)
    hop_ms = models.FloatField(null=True)
    predicted_async_ms = models.FloatField(null=True)
    user_blocking = models.PositiveIntegerField(null=True)
    io_http_ms = models.FloatField(null=True)
    io_db_ms = models.FloatField(null=True)
    io_cache_ms = models.FloatField(null=True)
    io_file_ms = models.FloatField(null=True)
    io_sleep_ms = models.FloatField(null=True)
    io_other_ms = models.FloatField(null=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["route", "created"]),
            # Covers every column the report aggregates: reading a million samples scans
            # this index (about 200 bytes a row) and never the rows with their traces
            # (kilobytes each; on SQLite the columns added after ``data`` sit past its
            # overflow pages). Key columns, not INCLUDE: SQLite has no INCLUDE.
            models.Index(fields=FIGURE_INDEX, name="async_audit_sample_figures"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.route} {self.wall_ms:.1f} ms"


class SamplingCounters(models.Model):
    """One writing process's sampling health: absolute counts, overwritten by its writer.

    Keyed by host, pid and the process's start time (pids are reused), so many workers and
    hosts update their own row with no coordination.
    """

    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    boot = models.FloatField()
    updated = models.DateTimeField(db_index=True)
    sampled = models.BigIntegerField(default=0)
    stored = models.BigIntegerField(default=0)
    dropped = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "pid", "boot"], name="async_audit_counters_key")
        ]

    def __str__(self) -> str:
        return f"{self.host}:{self.pid} sampled {self.sampled}, stored {self.stored}"
