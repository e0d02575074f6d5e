"""Where the writer puts samples: the database (``Sample`` rows) or a JSON Lines file.

A sink raises on failure; the writer counts the batch as dropped under the sink's
``reason`` and goes on (the next batch tries again, so writing resumes by itself when the
storage comes back). Sinks run only in the writer thread, never on a request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from async_audit.sampling.record import row_fields

__all__ = ["COUNTERS_KIND", "DatabaseSink", "FileSink", "Sink", "prune_samples"]

COUNTERS_KIND = "sampling_counters"
PRUNE_BATCH = 1000

# One encoder for every line: ``json.dumps`` with separators builds a new one per call.
# Records are trees of fresh dicts and lists, never cyclic, so the cycle check is skipped;
# the text is the same as ``json.dumps(record, separators=(",", ":"))``.
_encoder = json.JSONEncoder(separators=(",", ":"), check_circular=False)
_encode: Any = _encoder.encode
# ``encode`` still makes the C encoder anew at each call (a microsecond, a twentieth of a
# sample's encoding): made once here, from the very arguments ``iterencode`` passes it.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    _c_encoder = _c_make_encoder(
        None, _encoder.default, json.encoder.encode_basestring_ascii, None, ":", ",",
        False, False, True,
    )  # fmt: skip

    def _encode(record: Any) -> str:
        return "".join(_c_encoder(record, 0))


class Sink(Protocol):
    reason: str
    name: str

    def prepare(self, record: dict[str, Any]) -> Any:
        """One sample made ready to write (``write`` takes a batch of these). It runs per
        sample, so a sample that cannot be stored is dropped alone, as an export error."""
        ...

    def write(self, items: Sequence[Any]) -> None: ...

    def write_counters(self, counters: dict[str, Any]) -> None: ...

    def prune(self, days: int) -> int: ...

    def release(self, broken: bool = False) -> None: ...


class DatabaseSink:
    """``Sample`` rows on one database alias; no coordination between writers is needed:
    each batch is one multi-row INSERT, and each process updates only its own counters row."""

    reason = "database_error"
    name = "database"

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def prepare(self, record: dict[str, Any]) -> Any:
        from async_audit.models import Sample

        return Sample(**row_fields(record))

    def write(self, items: Sequence[Any]) -> None:
        from async_audit.models import Sample

        try:
            Sample.objects.using(self.alias).bulk_create(items)
        except Exception:
            self.release(broken=True)
            raise

    def write_counters(self, counters: dict[str, Any]) -> None:
        from async_audit.models import SamplingCounters

        try:
            SamplingCounters.objects.using(self.alias).update_or_create(
                host=counters["host"],
                pid=counters["pid"],
                boot=counters["boot"],
                defaults={
                    "updated": datetime.now(timezone.utc),
                    "sampled": counters["sampled"],
                    "stored": counters["stored"],
                    "dropped": counters["dropped"],
                },
            )
        except Exception:
            self.release(broken=True)
            raise

    def prune(self, days: int) -> int:
        return prune_samples(self.alias, days)

    def release(self, broken: bool = False) -> None:
        """Drop a dead connection so the next batch reconnects (the database came back)."""
        from django.db import connections

        connection = connections[self.alias]
        if broken:
            try:
                connection.close()
            except Exception:
                connection.connection = None
        else:
            connection.close_if_unusable_or_obsolete()


def prune_samples(alias: str, days: int, batch: int = PRUNE_BATCH) -> int:
    """Delete samples older than ``days`` in batches of at most ``batch`` ids; never loads rows.

    Each round reads ``batch`` primary keys (bounded memory) and deletes them in one
    statement, so a huge table is pruned without a long lock or an out-of-memory (silk #711).
    """
    from async_audit.models import Sample, SamplingCounters

    cutoff = datetime.now(timezone.utc) - timedelta(days=days)
    old = Sample.objects.using(alias).filter(created__lt=cutoff)
    deleted = 0
    while True:
        ids = list(old.order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            break
        deleted += Sample.objects.using(alias).filter(pk__in=ids)._raw_delete(alias)
    SamplingCounters.objects.using(alias).filter(updated__lt=cutoff)._raw_delete(alias)
    return deleted


class FileSink:
    """One JSON object per line, appended; counters are lines of kind ``sampling_counters``.

    Many processes may append to one file: each batch is one ``write`` of whole lines on a
    file opened with ``O_APPEND``, so lines from different writers do not interleave.
    """

    reason = "file_error"
    name = "file"

    def __init__(self, path: str) -> None:
        self.path = path

    def _append(self, lines: list[str]) -> None:
        data = "".join(lines).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def prepare(self, record: dict[str, Any]) -> Any:
        return _encode(record) + "\n"

    def write(self, items: Sequence[Any]) -> None:
        self._append(list(items))

    def write_counters(self, counters: dict[str, Any]) -> None:
        line = {"kind": COUNTERS_KIND, **counters}
        self._append([_encode(line) + "\n"])

    def prune(self, days: int) -> int:
        return 0  # a file is rotated by the system (logrotate), not by us

    def release(self, broken: bool = False) -> None:
        pass
