"""Stored samples: compact, privacy-safe traces of real requests, in the project's database.

A row holds one request's trace in its exported form (``Trace.to_dict()``: SQL reduced to
fingerprints, no query strings, headers, bodies, cookies or parameters). The sampling
middleware writes them; ``manage.py async_audit`` reads and aggregates them.
"""

from __future__ import annotations

from django.db import models

__all__ = ["Sample"]


class Sample(models.Model):
    created = models.DateTimeField(db_index=True)
    route = models.CharField(max_length=400, db_index=True)
    view = models.CharField(max_length=400)
    method = models.CharField(max_length=10, default="GET")
    status = models.PositiveSmallIntegerField(null=True)
    wall_ms = models.FloatField()
    schema = models.PositiveSmallIntegerField(default=1)
    data = models.JSONField()

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["route", "created"])]

    def __str__(self) -> str:
        return f"{self.method} {self.route} {self.wall_ms:.1f} ms"
