"""The stored form of a sample (schema 4): events as positional lists of integers.

Encoding a trace's dict form to JSON cost more than recording the request: 2 of every 3
instructions of an export went to writing floats (``repr`` of a double runs the shortest
round-trip search), and the rest to dicts whose keys repeat in every event. Here a time is
an integer number of microseconds since the trace began (what ``_ms`` keeps of it anyway),
an event is a list whose fields are in the order of ``FIELDS``, a thread is an index into
the row's ``threads`` and a call site (and a stack's frames) an index into its ``sites``,
and what can be derived (ends, overheads, the summary) is derived when the row is read,
by ``expand``.

Schema 4 is schema 3 with what the encoder spent most on taken out, since its cost goes by
the number of values, not their size (about 80 ns each, a short string or an integer
alike). A hop, most events, has no kind: it is the one row that starts with an integer,
``[start_us, duration_us, target, site, queue_wait_us, run_us, cpu_us, run_thread]``, and
only a hop unlike Django's own (off the owner's thread or its loop, into async code, not
thread-sensitive, nested or failed) carries ``HOP_TAIL`` after them. A trace's defaults
(no tags, nothing dropped, not shared, not forced) and the label ("METHOD route") are not
written. Rows of schema 3 read as before.

``expand(data)`` gives back exactly the shape ``make_record`` wrote in schema 2 (the
``trace_to_dict`` form, for storage): every reader (verdicts, figures, validation) reads
that shape and nothing else. Derived figures may differ from schema 2's by a microsecond
(a difference of two rounded times instead of a rounded difference).
"""

from __future__ import annotations

from math import floor
from operator import attrgetter
from typing import Any

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
from async_audit.trace.sql import fingerprint

__all__ = [
    "COMPACT_SCHEMA",
    "FIELDS",
    "HOP",
    "HOP_TAIL",
    "CompactError",
    "compact_trace",
    "expand",
    "is_compact",
]

COMPACT_SCHEMA = 4
_SCHEMAS = (3, COMPACT_SCHEMA)

# A hop of schema 4 (``thread``, ``run_thread`` index ``threads``, ``site`` ``sites``), and
# what follows only when one differs from the default of Django's own hops: on the owner's
# thread (index 0) and its loop, ``sync_to_async``, thread-sensitive, not nested, no error.
HOP = ("start_us", "duration_us", "target", "site", "queue_wait_us", "run_us", "cpu_us",
       "run_thread")  # fmt: skip
HOP_TAIL = ("thread", "on_loop", "direction", "thread_sensitive", "nested", "error")
_HOP_DEFAULTS = (0, True, "sync_to_async", True, False, None)

# Other events (and a hop of schema 3): after [kind, start_us, duration_us, thread,
# on_loop] (duration None: it never ended).
FIELDS: dict[str, tuple[str, ...]] = {
    "hop": (
        "direction", "target", "thread_sensitive", "site",
        "queue_wait_us", "run_us", "cpu_us", "run_thread", "nested", "error",
    ),
    "query": ("alias", "vendor", "fingerprint", "many", "error"),
    "http": ("client", "method", "host", "port", "status", "error"),
    "view": ("name", "is_async"),
    "cache": ("backend", "alias", "op", "hit", "error"),
    "blocking": ("call", "category", "site", "stack"),
    "loop_lag": ("site", "stack", "cpu_us", "queued_us"),
    "exception": ("type", "site", "stack"),
}  # fmt: skip


class CompactError(ValueError):
    """A stored compact row whose events are not what ``compact_trace`` writes."""


def is_compact(data: Any) -> bool:
    return isinstance(data, dict) and data.get("schema") in _SCHEMAS and "ev" in data


# -- writing (the sampling writer's thread, once per stored sample) -------------------------

_by_start = attrgetter("start")


_KNOWN = (Hop, Query, HttpCall, ViewCall, CacheCall, BlockingCall, LoopLag, RaisedException)


def _base_of(cls: type) -> type:
    """A subclass of a known kind is stored as that kind (as ``trace_to_dict`` exports it)."""
    return next((k for k in _KNOWN if issubclass(cls, k)), cls)


def compact_trace(trace: Trace) -> dict[str, Any]:
    """The trace in schema 4, without the sample's own fields (``make_record`` adds them).

    Only what may be stored: SQL as its fingerprint, exception types without messages,
    outbound calls without their path.
    """
    t0 = trace.t0
    ev: list[list[Any]] = []
    append = ev.append
    # Each (file, line, function) and thread id once per row: a request's hops come from a
    # few lines of Django's (an 80-character path, escaped again at every use, was a fifth
    # of the encoder's work), and an id has 15 digits. Sites are keyed by identity: they
    # are remembered tuples (``stack.frame_site``), one object per line, each kept alive
    # by its event while this runs. The owner's thread is index 0, a hop's default.
    sites: list[list[Any]] = []
    site_of: dict[int, int] = {}
    owner = trace.thread
    threads: list[int] = [owner]
    thread_of: dict[int, int] = {owner: 0}
    hop_cpu = 0.0  # ``Trace.hop_cpu``, summed on the way

    def site_index(site: Any) -> int | None:
        if not site:
            return None
        i = site_of.get(id(site))
        if i is None:
            i = site_of[id(site)] = len(sites)
            sites.append(list(site))
        return i

    # One loop and one type test per event; every field is read once. Times are rounded
    # half up with ``floor``, a third cheaper than ``round``'s call of ``__round__``.
    e: Any  # narrowed by its class below, not by isinstance (cheaper)
    for e in sorted(trace.events, key=_by_start):
        cls = type(e)
        if cls not in _KNOWN:
            cls = _base_of(cls)
        thread = e.thread
        ti = thread_of.get(thread)
        if ti is None:
            ti = thread_of[thread] = len(threads)
            threads.append(thread)
        start = e.start
        end = e.end
        head = floor((start - t0) * 1e6 + 0.5)
        dur = None if end is None else (floor((end - start) * 1e6 + 0.5) if end > start else 0)
        if cls is Hop:
            run_start, run_end, cpu, site = e.run_start, e.run_end, e.cpu, e.site
            if site:  # site_index, inline: every hop has one
                si = site_of.get(id(site))
                if si is None:
                    si = site_of[id(site)] = len(sites)
                    sites.append(list(site))
            else:
                si = None
            nested = e.nested
            run_thread = e.run_thread
            if run_thread is not None:
                rti = thread_of.get(run_thread)
                if rti is None:
                    rti = thread_of[run_thread] = len(threads)
                    threads.append(run_thread)
            else:
                rti = None
            if cpu is not None and not nested and run_thread != owner and type(e) is Hop:
                hop_cpu += cpu  # as ``Trace.hop_cpu``: hops of that very class
            row = [
                head, dur, e.target, si,
                None if run_start is None
                else (floor((run_start - start) * 1e6 + 0.5) if run_start > start else 0),
                None if run_start is None or run_end is None
                else floor((run_end - run_start) * 1e6 + 0.5),
                None if cpu is None else floor(cpu * 1e6 + 0.5),
                rti,
            ]  # fmt: skip
            tail = (ti, e.on_loop, e.direction, e.thread_sensitive, nested, e.error)
            if tail != _HOP_DEFAULTS:
                row += tail
            append(row)
        elif cls is Query:
            append(
                ["query", head, dur, ti, e.on_loop, e.alias, e.vendor, fingerprint(e.sql),
                 e.many, e.error]
            )  # fmt: skip
        elif cls is HttpCall:
            append(
                ["http", head, dur, ti, e.on_loop, e.client, e.method, e.host, e.port,
                 e.status, e.error]
            )  # fmt: skip
        elif cls is ViewCall:
            append(["view", head, dur, ti, e.on_loop, e.name, e.is_async])
        elif cls is CacheCall:
            append(
                ["cache", head, dur, ti, e.on_loop, e.backend, e.alias, e.op, e.hit,
                 e.error]
            )  # fmt: skip
        elif cls is BlockingCall:
            append(
                ["blocking", head, dur, ti, e.on_loop, e.call, e.category,
                 site_index(e.site), [site_index(f) for f in e.stack]]
            )  # fmt: skip
        elif cls is LoopLag:
            append(
                ["loop_lag", head, dur, ti, e.on_loop, site_index(e.site),
                 [site_index(f) for f in e.stack],
                 None if e.cpu is None else floor(e.cpu * 1e6 + 0.5),
                 None if e.queued is None else floor(e.queued * 1e6 + 0.5)]
            )  # fmt: skip
        elif cls is RaisedException:
            append(
                ["exception", head, dur, ti, e.on_loop, e.type_name,
                 site_index(e.site), [site_index(f) for f in e.stack]]
            )  # fmt: skip
        else:  # a kind this module does not know: its common fields
            append([e.kind, head, dur, ti, e.on_loop])
    owner_cpu = trace.owner_cpu
    shared = trace.shared_thread
    own = 0.0 if owner_cpu is None or shared else owner_cpu  # as ``Trace.cpu``
    out: dict[str, Any] = {
        "schema": COMPACT_SCHEMA,
        "id": trace.id,
        "started_at": trace.started_at,
        "wall_us": floor(trace.wall * 1e6 + 0.5),
        "cpu_us": floor((own + hop_cpu) * 1e6 + 0.5),
        "owner_cpu_us": None if owner_cpu is None else floor(owner_cpu * 1e6 + 0.5),
        "route": trace.route,
        "view": trace.view,
        "view_is_async": trace.view_is_async,
        "status": trace.status,
        "threads": threads,
        "sites": sites,
        "ev": ev,
    }
    # What most traces hold is not written (``_DEFAULTS``).
    if shared:
        out["shared_thread"] = True
    if trace.tags:
        out["tags"] = dict(trace.tags)
    if trace.dropped:
        out["dropped_events"] = trace.dropped
    if trace.errors:
        out["instrument_errors"] = trace.errors
    return out


# -- reading (only the rows whose traces the report reads) ----------------------------------


def _ms(us: Any) -> float | None:
    return None if us is None else us / 1000.0


def _site(sites: list[Any], i: Any) -> Any:
    if i is None:
        return None
    if type(i) is not int or not 0 <= i < len(sites):
        raise CompactError(f"site {i!r} is not an index into 'sites'")
    return list(sites[i])  # each event its own list, as schema 2 had


def _stack(sites: list[Any], frames: Any) -> list[Any]:
    if not isinstance(frames, list):
        raise CompactError("a stack is not a list of sites")
    return [_site(sites, i) for i in frames]


def _thread(threads: list[Any], i: Any) -> Any:
    if type(i) is not int or not 0 <= i < len(threads):
        raise CompactError(f"thread {i!r} is not an index into 'threads'")
    return threads[i]


def _hop(row: list[Any]) -> tuple[Any, ...]:
    """A schema 4 hop in schema 3's order: (kind, start, duration, thread, on_loop,
    direction, target, thread_sensitive, site, wait, run, cpu, run_thread, nested, error)."""
    n = len(row)
    if n == len(HOP):
        start, dur, target, site, wait, run, cpu, run_thread = row
        thread, on_loop, direction, sensitive, nested, error = _HOP_DEFAULTS
    elif n == len(HOP) + len(HOP_TAIL):
        start, dur, target, site, wait, run, cpu, run_thread = row[: len(HOP)]
        thread, on_loop, direction, sensitive, nested, error = row[len(HOP) :]
    else:
        raise CompactError(f"a hop has {n} fields, not {len(HOP)} or {len(HOP) + len(HOP_TAIL)}")
    return ("hop", start, dur, thread, on_loop, direction, target, sensitive, site, wait, run,
            cpu, run_thread, nested, error)  # fmt: skip


def _event(row: Any, sites: list[Any], threads: list[Any], short: bool) -> dict[str, Any]:
    if type(row) is not list or not row:
        raise CompactError("an event is not a list")
    if short and type(row[0]) is int:  # a hop of schema 4
        row = _hop(row)
    elif len(row) < 5:
        raise CompactError("an event is not [kind, start, duration, thread, on_loop, ...]")
    kind, start, dur, thread, on_loop = row[0], row[1], row[2], row[3], row[4]
    if type(start) is not int or not (dur is None or type(dur) is int):
        raise CompactError("an event's start or duration is not an integer")
    if type(thread) is not int or not 0 <= thread < len(threads):
        raise CompactError(f"thread {thread!r} is not an index into 'threads'")
    if kind == "hop":  # most events: unpacked in place, no field names looked up
        if len(row) != 15:
            raise CompactError(f"a hop event has {len(row)} fields, not 15")
        (direction, target, sensitive, site, wait, run, cpu, run_thread, nested, error) = row[5:]
        duration = dur or 0
        if run is None:
            overhead = duration if direction == "sync_to_async" else 0
        else:
            overhead = max(0, duration - run)
        return {
            "kind": kind,
            "start_ms": start / 1000.0,
            "end_ms": None if dur is None else (start + dur) / 1000.0,
            "duration_ms": duration / 1000.0,
            "thread": threads[thread],
            "on_loop": on_loop,
            "direction": direction,
            "target": target,
            "thread_sensitive": sensitive,
            "site": None if site is None else _site(sites, site),
            "queue_wait_ms": None if wait is None else wait / 1000.0,
            "run_ms": None if run is None else run / 1000.0,
            "cpu_ms": None if cpu is None else cpu / 1000.0,
            "overhead_ms": overhead / 1000.0,
            "run_thread": None if run_thread is None else _thread(threads, run_thread),
            "nested": nested,
            "error": error,
        }
    if type(kind) is not str:
        raise CompactError("an event's kind is not a string")
    names = FIELDS.get(kind)
    if names is not None and len(row) != 5 + len(names):
        raise CompactError(f"a {kind} event has {len(row)} fields, not {5 + len(names)}")
    d: dict[str, Any] = {
        "kind": kind,
        "start_ms": start / 1000.0,
        "end_ms": None if dur is None else (start + dur) / 1000.0,
        "duration_ms": 0.0 if dur is None else dur / 1000.0,
        "thread": threads[thread],
        "on_loop": on_loop,
    }
    if names is None:
        return d
    f = dict(zip(names, row[5:], strict=True))
    if kind == "http":
        d.update(f)
        d["path"] = ""  # never stored: a path can carry ids and tokens
    elif kind == "blocking" or kind == "exception":
        f["site"] = _site(sites, f["site"])
        f["stack"] = _stack(sites, f["stack"])
        d.update(f)
    elif kind == "loop_lag":
        d.update(
            cpu_ms=_ms(f["cpu_us"]),
            queued_ms=_ms(f["queued_us"]),
            site=_site(sites, f["site"]),
            stack=_stack(sites, f["stack"]),
        )
    else:
        d.update(f)
    return d


def _summary(events: list[dict[str, Any]], dropped: Any, errors: Any) -> dict[str, Any]:
    """``Trace.summary()`` from the expanded events (their stored microseconds, summed)."""
    hops = queries = http = cache = blocking = lags = 0
    overhead = total = waits = wait_max = db = http_t = cache_t = blocking_t = 0.0
    exceptions: list[str] = []
    for e in events:
        kind = e["kind"]
        if kind == "hop":
            hops += 1
            overhead += e["overhead_ms"]
            if not e["nested"]:
                total += e["duration_ms"]
            wait = e["queue_wait_ms"]
            if wait is not None:
                waits += wait
                wait_max = max(wait_max, wait)
        elif kind == "query":
            queries += 1
            db += e["duration_ms"]
        elif kind == "http":
            http += 1
            http_t += e["duration_ms"]
        elif kind == "cache":
            cache += 1
            cache_t += e["duration_ms"]
        elif kind == "blocking":
            blocking += 1
            blocking_t += e["duration_ms"]
        elif kind == "loop_lag":
            lags += 1
        elif kind == "exception":
            exceptions.append(e["type"])
    r = round
    return {
        "hops": hops,
        "hop_ms": r(overhead, 3),
        "hop_total_ms": r(total, 3),
        "hop_queue_wait_ms": r(waits, 3),
        "hop_queue_wait_max_ms": r(wait_max, 3),
        "queries": queries,
        "db_ms": r(db, 3),
        "http_calls": http,
        "http_ms": r(http_t, 3),
        "cache_calls": cache,
        "cache_ms": r(cache_t, 3),
        "blocking_calls": blocking,
        "blocking_ms": r(blocking_t, 3),
        "loop_lags": lags,
        "exceptions": exceptions,
        "dropped_events": dropped,
        "instrument_errors": errors,
    }


def expand(data: dict[str, Any]) -> dict[str, Any]:
    """A compact row (schema 3 or 4) in the shape schema 2 stored (``trace_to_dict`` plus
    the sample's fields). Raises ``CompactError`` on a row this module did not write."""
    rows, sites, threads = data.get("ev"), data.get("sites"), data.get("threads")
    if not (isinstance(rows, list) and isinstance(sites, list) and isinstance(threads, list)):
        raise CompactError("'ev', 'sites' or 'threads' is not a list")
    for key in ("wall_us", "cpu_us", "owner_cpu_us"):
        value = data.get(key)
        if value is None and key == "owner_cpu_us":
            continue
        if type(value) is not int or not -(10**15) < value < 10**15:
            raise CompactError(f"{key!r} is not an integer of a sane size")
    short = data.get("schema") != 3  # schema 4: hops short, a trace's defaults left out
    try:
        events = [_event(row, sites, threads, short) for row in rows]
    except (TypeError, KeyError, OverflowError) as exc:  # 10**400 / 1000.0: OverflowError
        raise CompactError(f"an event does not read: {exc}") from None
    out = {k: v for k, v in data.items() if k not in _COMPACT_ONLY}
    if short:  # put back what schema 4 leaves out when it is the default
        for key, default in _DEFAULTS:
            if key not in out:
                out[key] = default()
        method = data.get("method")
        if method is not None and "label" not in out:
            out["label"] = f"{method} {data.get('route')}"  # as ``make_record`` made it
    out.update(
        wall_ms=data["wall_us"] / 1000.0,
        cpu_ms=data["cpu_us"] / 1000.0,
        owner_cpu_ms=_ms(data.get("owner_cpu_us")),
        summary=_summary(events, data.get("dropped_events", 0), data.get("instrument_errors", 0)),
        events=events,
    )
    return out


# A trace's fields (and a sample's) that schema 4 writes only when they are not these.
_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("shared_thread", lambda: False),
    ("tags", dict),
    ("forced", lambda: False),
)  # ``dropped_events`` and ``instrument_errors`` (0 unless written) go to the summary

_COMPACT_ONLY = frozenset(
    {
        "ev",
        "sites",
        "threads",
        "wall_us",
        "cpu_us",
        "owner_cpu_us",
        "dropped_events",
        "instrument_errors",
    }
)
