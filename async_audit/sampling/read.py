"""Reading stored samples at scale: figures from columns, a few full traces per route.

A row of schema 2 carries, besides its trace, the numbers the report needs of it
(``Sample`` columns written by ``record.row_fields``). So reading a million samples is:

- **route figures** over every measured sample: on PostgreSQL one ``GROUP BY route`` with
  ``percentile_disc``/``percentile_cont``; elsewhere (SQLite) one pass over the columns in
  route order, a route's values packed in memory only while it is read
  (``verdicts.figures.Streamed``);
- **arrival rates** for the capacity plan: a ``GROUP BY route, interval``;
- **figures of a route seen only in error responses** the same way, over its error rows
  (its verdict reads a sample of them in which those with evidence are over-represented):
  only for such a route that the report shows, when it asks (``Stored.error_figures``);
- **full traces** (decoded and validated JSON) only for what the verdicts read: per route a
  uniform random ``VERDICT_TRACES`` of the measured samples, up to ``EVIDENCE_PER_ROUTE`` of
  those holding evidence (a blocking call, a stall, an exception: rare and never to be
  sampled away), and of the error responses (not measured) as many of each: a route seen
  only in error responses (404s, redirects) is judged on those.

Rows of schema 1 (written before the columns existed, or by a worker still running the
previous version during a deploy) have NULL columns: they are decoded and computed in
Python exactly as a schema 2 row is at write time, and their routes are read by the
streaming pass. ``--since`` and ``--route`` are in every query's ``WHERE``.
"""

from __future__ import annotations

import random
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import compress, groupby
from operator import not_
from typing import Any

from django.db import connections
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from async_audit.conf import MIN_SAMPLE_RATE
from async_audit.sampling.aggregate import EVIDENCE_PER_ROUTE, Reservoir
from async_audit.storage import parse_sample, sample_table_notes, skipped_note
from async_audit.verdicts.capacity import Arrivals
from async_audit.verdicts.figures import (
    MEDIAN_COLUMNS,
    ROW_COLUMNS,
    Streamed,
    finish,
    route_figures,
)
from async_audit.verdicts.measured import route_key, route_matches

__all__ = ["VERDICT_TRACES", "Stored", "read_stored"]

# Traces decoded per route for its verdict (the figures count every sample): a route's
# shape is decided on medians, which 200 requests drawn at random give to within a few
# per cent; decoding and judging a trace costs about 0.3 ms, so more would only cost time.
VERDICT_TRACES = 200
_FETCH = 2000


@dataclass
class Stored:
    """What the report needs of the stored samples (see the module docstring). The full
    traces are read a route at a time, by ``groups()``: memory holds one route's."""

    alias: str = "default"
    kept_ids: dict[str, list[int]] = field(default_factory=dict)  # route key -> rows to decode
    # Rows of schema 1 kept for the verdicts: (created, id, trace), already decoded.
    old_kept: dict[str, list[tuple[Any, int, dict[str, Any]]]] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)  # rows skipped: not a trace
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)  # route key -> figures
    streamed: dict[str, Streamed] = field(default_factory=dict)  # routes merged with probes
    partial: dict[str, list[int]] = field(default_factory=dict)  # key -> [samples, dropped]
    unmeasured: int = 0  # error responses: in no measured route's figures
    errors: dict[str, int] = field(default_factory=dict)  # route key -> error responses
    # The columns of error responses of schema 1, for the routes seen only in them.
    old_errors: dict[str, Streamed] = field(default_factory=dict)
    query: _Query | None = field(default=None, repr=False)  # the read's, for error_figures
    total: int = 0
    arrivals: Arrivals | None = None
    notes: list[str] = field(default_factory=list)

    def groups(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """``(route key, traces)`` per route, newest first, decoded only now. A row that is
        not a trace is skipped and counted in ``reasons``."""
        from async_audit.models import Sample

        rows = Sample.objects.using(self.alias).annotate(
            raw_data=Cast("data", output_field=TextField())
        )
        for key in sorted(self.kept_ids.keys() | self.old_kept.keys()):
            found = list(self.old_kept.get(key, ()))
            ids = self.kept_ids.get(key, [])
            for start in range(0, len(ids), 500):
                chunk = rows.filter(id__in=ids[start : start + 500]).values_list(
                    "id", "created", "route", "view", "raw_data"
                )
                for pk, created, route, view, raw in chunk:
                    trace, error = parse_sample(raw)
                    if trace is None:
                        self.reasons[error or "not a trace"] += 1
                        continue
                    trace.setdefault("route", route)
                    trace.setdefault("view", view)
                    found.append((created, pk, trace))
            # Newest first, as the table's ordering (and the reader before this one) has it.
            found.sort(key=lambda x: (x[0], x[1]), reverse=True)
            yield key, [t for _, _, t in found]

    @property
    def traces(self) -> list[dict[str, Any]]:
        """Every kept trace at once (for tests and small reads: ``groups()`` holds one route)."""
        return [t for _, group in self.groups() for t in group]

    def skipped(self) -> str | None:
        """The note on rows that were not a trace, once ``groups()`` has been read."""
        return skipped_note(self.reasons) if self.reasons else None

    def error_figures(
        self, key: str, extra: Sequence[dict[str, Any]] = ()
    ) -> dict[str, Any] | None:
        """Figures of a route seen only in error responses, over every one of them (and the
        ``extra`` request rows of probes' error responses): read only for a route the report
        shows, one route at a time. None for a route with measured samples."""
        if self.query is None or key not in self.errors:
            return None
        if key in self.figures or key in self.streamed:
            return None
        return _error_figures(self.query, key, self.old_errors.get(key), extra)

    def route_figures(
        self, key: str, extra: Sequence[dict[str, Any]] = ()
    ) -> dict[str, Any] | None:
        """The route's figures over every stored sample, plus ``extra`` request rows (its
        probes: only for a route read with ``merge`` in ``read_stored``)."""
        if key in self.streamed:
            values = Streamed()
            values.extend(self.streamed[key])
            for row in extra:
                values.add(row)
            return values.figures()
        if key in self.figures:
            return self.figures[key]
        return route_figures(extra) if extra else None


class _Query:
    """The table, its columns quoted, and the ``WHERE`` every query shares."""

    def __init__(self, alias: str, since: timedelta | None, routes: list[str] | None) -> None:
        from async_audit.models import Sample

        self.connection = connections[alias]
        q = self.connection.ops.quote_name
        self.q = q
        self.table = q(Sample._meta.db_table)
        self.vendor = self.connection.vendor
        where, params = [], []
        # The same filter for the ORM's queries (rows of schema 1, the kept traces).
        self.orm_filter: dict[str, Any] = {}
        if since is not None:
            oldest = timezone.now() - since
            self.orm_filter["created__gte"] = oldest
            where.append(f"{q('created')} >= %s")
            params.append(self.connection.ops.adapt_datetimefield_value(oldest))
        if routes is not None:
            self.orm_filter["route__in"] = routes
            where.append(
                f"{q('route')} IN ({', '.join(['%s'] * len(routes))})" if routes else "1 = 0"
            )
            params.extend(routes)
        self.where, self.params = where, params

    def sql(self, *conditions: str) -> str:
        clauses = [*self.where, *conditions]
        return " AND ".join(clauses) if clauses else "1 = 1"

    def rows(
        self, sql: str, params: Sequence[Any] = (), stream: bool = False
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` whose only placeholders before the shared ``WHERE``'s are none,
        and ``params`` after them."""
        return self.rows_with(sql, [], params, stream)

    def rows_with(
        self, sql: str, before: Sequence[Any], after: Sequence[Any], stream: bool = False
    ) -> Iterator[tuple[Any, ...]]:
        for chunk in self.chunks(sql, after, stream, before):
            yield from chunk

    def chunks(
        self, sql: str, after: Sequence[Any], stream: bool = False, before: Sequence[Any] = ()
    ) -> Iterator[list[tuple[Any, ...]]]:
        cursor = self.connection.chunked_cursor() if stream else self.connection.cursor()
        with cursor:
            cursor.execute(sql, [*before, *self.params, *after])
            while chunk := cursor.fetchmany(_FETCH):
                yield chunk


def _routes(alias: str, route_glob: str | None, since: timedelta | None) -> list[str] | None:
    """The stored route keys the glob matches (``None``: no glob), matched in Python so the
    glob means exactly what it means everywhere else in the command (``route_matches``)."""
    if route_glob is None:
        return None
    query = _Query(alias, since, None)
    q = query.q
    stored = [
        r
        for (r,) in query.rows(
            f"SELECT DISTINCT {q('route')} FROM {query.table} WHERE {query.sql()}"
        )
    ]
    return [r for r in stored if route_matches(r or "", route_glob)]


def read_stored(
    alias: str,
    since: timedelta | None = None,
    route_glob: str | None = None,
    interval_s: float = 60.0,
    merge: Collection[str] = (),
    per_route: int = VERDICT_TRACES,
    evidence_per_route: int = EVIDENCE_PER_ROUTE,
    progress: Callable[[int], None] | None = None,
) -> Stored:
    """Read the samples in ``alias`` (see the module docstring). ``merge``: route keys whose
    figures will be merged with probes' (their values are kept, not only their figures).
    Raises ``CommandError`` (exit 2) if the database is unreachable."""
    out = Stored(alias=alias, arrivals=Arrivals(interval_s))
    missing = sample_table_notes(alias)
    if missing is not None:
        out.notes.extend(missing)
        return out
    query = _Query(alias, since, _routes(alias, route_glob, since))
    old_routes = _read_old_rows(query, out, per_route, evidence_per_route)
    keep = (per_route, evidence_per_route)
    _read_figures(query, out, set(merge) | old_routes, progress, keep)
    _read_counts(query, out)
    for key in [k for k in out.old_errors if k in out.figures or k in out.streamed]:
        del out.old_errors[key]  # error responses of a measured route: not its figures
    out.query = query
    _read_arrivals(query, out, interval_s)
    # Where the figures were streamed, the measured rows to decode were drawn on the way.
    _choose_kept(
        query, out, per_route, evidence_per_route, errors_only=query.vendor != "postgresql"
    )
    return out


def _read_old_rows(query: _Query, out: Stored, per_route: int, evidence_per_route: int) -> set[str]:
    """Rows without the figure columns: decoded, validated, computed as the writer would
    (the columns of error responses kept in ``out.old_errors``)."""
    from async_audit.models import Sample
    from async_audit.sampling.record import sample_columns

    # Their ids first, from the covering index: the rows themselves (a trace each) are
    # only read if there are any.
    q = query.q
    has_none = query.sql(q("measured") + " IS NULL")
    old_ids = [pk for (pk,) in query.rows(f"SELECT {q('id')} FROM {query.table} WHERE {has_none}")]
    if not old_ids:
        return set()
    rows = Sample.objects.using(query.connection.alias).filter(measured__isnull=True)
    rows = rows.filter(**query.orm_filter)
    rows = rows.annotate(raw_data=Cast("data", output_field=TextField()))
    kept = Reservoir(per_route, evidence_per_route)
    errors = Reservoir(per_route, evidence_per_route)  # drawn as ``_choose_kept`` draws them
    routes: set[str] = set()
    where: dict[int, tuple[Any, int]] = {}  # id(trace) -> (created, pk), for the order
    assert out.arrivals is not None
    values = rows.values_list("id", "created", "route", "view", "raw_data")
    for pk, created, route, view, raw in values.iterator(chunk_size=500):
        trace, error = parse_sample(raw)
        if trace is None:
            out.reasons[error or "not a trace"] += 1
            continue
        where[id(trace)] = (created, pk)
        trace.setdefault("route", route)
        trace.setdefault("view", view)
        out.total += 1
        out.arrivals.add(trace)
        columns = sample_columns(trace)
        key = route_key(trace)
        routes.add(key)
        if columns["dropped_events"]:
            tally = out.partial.setdefault(key, [0, 0])
            tally[0] += 1
            tally[1] += columns["dropped_events"]
        if not columns["measured"]:
            out.unmeasured += 1
            out.errors[key] = out.errors.get(key, 0) + 1
            out.old_errors.setdefault(key, Streamed()).add(columns)
            errors.add(trace)
            continue
        out.streamed.setdefault(key, Streamed()).add(columns)
        kept.add(trace)
    for trace in [*kept.traces(), *errors.traces()]:
        out.old_kept.setdefault(route_key(trace), []).append((*where[id(trace)], trace))
    return routes


def _row_columns(q: Callable[[str], str]) -> str:
    """The ``SELECT`` list of ``ROW_COLUMNS``. No prediction is NULL; as -1 (a prediction is
    never negative) the column packs as doubles with no Python work per row."""
    return ", ".join(
        f"COALESCE({q(c)}, -1.0)" if c == "predicted_async_ms" else q(c) for c in ROW_COLUMNS
    )


def _runs(routes: Sequence[str]) -> Iterator[tuple[str, int, int]]:
    """``(route, start, end)`` of each run of one route in a chunk read in route order, found
    at C speed. The database's collation decides the order of routes, so runs are told by
    equality, never by comparing strings."""
    start = 0
    for route, run in groupby(routes):
        end = start + len(list(run))
        yield route, start, end
        start = end


def _read_figures(
    query: _Query,
    out: Stored,
    stream_routes: set[str],
    progress: Callable[[int], None] | None,
    keep: tuple[int, int],
) -> None:
    q = query.q
    measured = [f"{q('measured')} = %s"]
    if query.vendor == "postgresql":
        _aggregate_in_sql(query, out.figures, stream_routes)
        if not stream_routes:
            return
        # Routes whose values are needed (probes to merge, rows of schema 1) are streamed.
        marks = ", ".join(["%s"] * len(stream_routes))
        measured.append(f"{q('route')} IN ({marks})")
        params: list[Any] = [True, *sorted(stream_routes)]
    else:
        params = [True]
    sql = (
        f"SELECT {q('route')}, {q('id')}, {q('evidence')}, {_row_columns(q)} FROM {query.table} "
        f"WHERE {query.sql(*measured)} ORDER BY {q('route')}"
    )
    current: str | None = None
    values = Streamed()
    plain: array[int] = array("q")  # the route's rows without evidence, and with
    evident: array[int] = array("q")
    draw = random.Random()

    def done() -> None:
        if current is None or not values.n:
            return
        if current in stream_routes:
            out.streamed.setdefault(current, Streamed()).extend(values)
        else:
            out.figures[current] = values.figures()
        if query.vendor != "postgresql":  # drawn here rather than by a second scan
            chosen = out.kept_ids.setdefault(current, [])
            for ids, limit in ((plain, keep[0]), (evident, keep[1])):
                chosen.extend(ids if len(ids) <= limit else draw.sample(ids, limit))

    read = 0
    for chunk in query.chunks(sql, params, stream=True):
        # A chunk in route order: transposed at C speed, then cut where the route changes.
        routes, ids, flags, *cols = zip(*chunk, strict=True)
        for route, start, end in _runs(routes):
            if route != current:
                done()
                current, values = route, Streamed()
                plain, evident = array("q"), array("q")
            values.extend_columns([c[start:end] for c in cols])
            seg_ids, seg_flags = ids[start:end], flags[start:end]
            if any(seg_flags):
                evident.extend(compress(seg_ids, seg_flags))
                plain.extend(compress(seg_ids, map(not_, seg_flags)))
            else:
                plain.extend(seg_ids)
        read += len(chunk)
        if progress is not None:
            progress(read)
    done()


def _error_figures(
    query: _Query, route: str, old: Streamed | None, extra: Sequence[dict[str, Any]]
) -> dict[str, Any] | None:
    """One route's figures over its error responses: rows of schema 2 (aggregated on
    PostgreSQL when nothing is to be merged, else streamed), then ``old`` and ``extra``."""
    q = query.q
    if query.vendor == "postgresql" and old is None and not extra:
        found: dict[str, dict[str, Any]] = {}
        _aggregate_in_sql(query, found, measured=False, route=route)
        return found.get(route)
    values = Streamed()
    sql = (
        f"SELECT {_row_columns(q)} FROM {query.table} "
        f"WHERE {query.sql(q('measured') + ' = %s', q('route') + ' = %s')}"
    )
    for chunk in query.chunks(sql, [False, route], stream=True):
        values.extend_columns(list(zip(*chunk, strict=True)))
    if old is not None:
        values.extend(old)
    for row in extra:
        values.add(row)
    return values.figures() if values.n else None


def _aggregate_in_sql(
    query: _Query,
    into: dict[str, dict[str, Any]],
    skip: Collection[str] = (),
    measured: bool = True,
    route: str | None = None,
) -> None:
    """Figures per route of its measured rows (or its error responses; of one ``route``)
    into ``into``, but for the routes in ``skip``."""
    q = query.q
    wall, io, flag = q("wall_ms"), q("io_ms"), q("measured")
    one, only = ([q("route") + " = %s"], [route]) if route is not None else ([], [])
    medians = ", ".join(
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {q(c)})" for c in MEDIAN_COLUMNS
    )
    sql = (
        f"SELECT {q('route')}, COUNT(*), "
        f"percentile_disc(0.5) WITHIN GROUP (ORDER BY {wall}), "
        f"percentile_disc(0.95) WITHIN GROUP (ORDER BY {wall}), "
        f"percentile_disc(0.95) WITHIN GROUP (ORDER BY {io}), "
        f"SUM({q('user_blocking')}), {medians} "
        f"FROM {query.table} WHERE {query.sql(flag + ' = %s', *one)} GROUP BY {q('route')}"
    )
    for key, n, p50, p95, p95_io, blocking, *meds in query.rows(sql, [measured, *only]):
        if key not in skip:
            medians_of = dict(zip(MEDIAN_COLUMNS, meds, strict=True))
            into[key] = finish(n, medians_of, p50, p95, p95_io, blocking or 0)


def _read_counts(query: _Query, out: Stored) -> None:
    """Rows of schema 2, error responses among them, and samples that dropped events."""
    q = query.q
    measured, dropped = q("measured"), q("dropped_events")
    has_columns = measured + " IS NOT NULL"
    sql = (
        f"SELECT {q('route')}, COUNT(*), SUM(CASE WHEN {measured} = %s THEN 1 ELSE 0 END) "
        f"FROM {query.table} WHERE {query.sql(has_columns)} GROUP BY {q('route')}"
    )
    for route, n, errors in query.rows_with(sql, [False], []):  # a placeholder in the SELECT
        out.total += int(n or 0)
        if errors:
            out.unmeasured += int(errors)
            out.errors[route] = out.errors.get(route, 0) + int(errors)
    sql = (
        f"SELECT {q('route')}, COUNT(*), SUM({dropped}) FROM {query.table} "
        f"WHERE {query.sql(has_columns, dropped + ' > 0')} GROUP BY {q('route')}"
    )
    for route, n, lost in query.rows(sql):
        tally = out.partial.setdefault(route, [0, 0])
        tally[0] += int(n)
        tally[1] += int(lost or 0)


def _read_arrivals(query: _Query, out: Stored, interval_s: float) -> None:
    q = query.q
    assert out.arrivals is not None
    at, rate, forced, measured = q("started_at"), q("sample_rate"), q("forced"), q("measured")
    # The clock interval of a sample, as Arrivals computes it: floor(at / interval).
    bucket = f"CAST({at} / %s AS INTEGER)" if query.vendor == "sqlite" else f"FLOOR({at} / %s)"
    usable = f"{rate} >= {MIN_SAMPLE_RATE!r} AND {rate} <= 1 AND {at} IS NOT NULL"
    has_columns = measured + " IS NOT NULL"
    sql = (
        f"SELECT {q('route')}, {bucket} AS b, SUM(1.0 / {rate}), COUNT(*) "
        f"FROM {query.table} WHERE {query.sql(has_columns, forced + ' = %s', usable)} "
        f"GROUP BY {q('route')}, b"
    )
    # The bucket's placeholder comes before the WHERE's.
    for route, b, weight, n in query.rows_with(sql, [interval_s], [False]):
        out.arrivals.add_interval(route, int(b), float(weight), int(n))
    counts = (
        f"SELECT SUM(CASE WHEN {forced} = %s THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {forced} = %s AND NOT ({usable}) THEN 1 ELSE 0 END) "
        f"FROM {query.table} WHERE {query.sql(has_columns)}"
    )
    for n_forced, n_unusable in query.rows_with(counts, [True, False], []):
        out.arrivals.forced += int(n_forced or 0)
        out.arrivals.unusable += int(n_unusable or 0)


def _choose_kept(
    query: _Query, out: Stored, per_route: int, evidence_per_route: int, errors_only: bool
) -> None:
    """Which rows the verdicts read in full: a uniform random sample per route, measured or
    not, with evidence or without (``errors_only``: of error responses; the measured rows
    were drawn already, while their figures were streamed)."""
    q = query.q
    measured, evidence = q("measured"), q("evidence")
    wanted, flags = ([f"{measured} = %s"], [False]) if errors_only else ([], [])
    sql = (
        f"SELECT id, route FROM (SELECT {q('id')} AS id, {q('route')} AS route, {evidence} AS e, "
        f"ROW_NUMBER() OVER (PARTITION BY {q('route')}, {measured}, {evidence} ORDER BY RANDOM()) AS rn "
        f"FROM {query.table} WHERE {query.sql(f'{measured} IS NOT NULL', *wanted)}"
        f") AS chosen WHERE rn <= CASE WHEN e = %s THEN %s ELSE %s END"
    )
    for pk, route in query.rows(sql, [*flags, True, evidence_per_route, per_route]):
        out.kept_ids.setdefault(route, []).append(pk)
