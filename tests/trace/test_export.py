from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

from async_audit.trace import traced
from async_audit.trace.events import (
    BlockingCall,
    CacheCall,
    Event,
    Hop,
    HttpCall,
    LoopLag,
    Query,
    RaisedException,
    ViewCall,
)


@dataclass(slots=True, eq=False)
class CustomEvent(Event):
    kind: ClassVar[str] = "custom"


@dataclass(slots=True, eq=False)
class TimedQuery(Query):
    """A subclass of a known kind is exported as that kind."""


def _one_of_each() -> dict:
    site = ("/app/views.py", 12, "index")
    with traced("GET /x") as trace:
        t0 = trace.t0
        ms = 0.001
        # Recorded as they end, so not in start order.
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
        trace.add(TimedQuery(t0 + 4.6 * ms, t0 + 4.7 * ms, 2, False, sql="SELECT 2"))
        trace.add(HttpCall(t0 + 5 * ms, t0 + 8 * ms, 1, True, client="httpx", method="GET",
                           host="api.example", port=443, path="/v1", status=200))  # fmt: skip
        trace.add(CacheCall(t0 + 5.5 * ms, t0 + 5.6 * ms, 1, True, backend="locmem",
                            alias="default", op="get", hit=False))  # fmt: skip
        trace.add(BlockingCall(t0 + 6 * ms, t0 + 6.25 * ms, 1, True, call="time.sleep",
                               category="sleep", site=site, stack=[site]))  # fmt: skip
        trace.add(LoopLag(t0 + 6.5 * ms, t0 + 60 * ms, 1, True, site=None, stack=[site]))
        trace.add(RaisedException(t0 + 8.5 * ms, t0 + 8.5 * ms, 1, True,
                                  type_name="builtins.KeyError", message="user 42"))  # fmt: skip
        trace.add(CustomEvent(t0 + 0.5 * ms, None, 1, True))
    return trace.to_dict() | {"private": trace.to_dict(private=True)}


def test_every_kind_of_event_is_exported_with_all_its_fields_in_start_order():
    data = _one_of_each()
    events = data["events"]
    assert [e["start_ms"] for e in events] == sorted(e["start_ms"] for e in events)
    by_kind: dict[str, list[dict]] = {}
    for e in events:
        by_kind.setdefault(e["kind"], []).append(e)
    assert by_kind["custom"] == [
        {"kind": "custom", "start_ms": 0.5, "end_ms": None, "duration_ms": 0.0, "thread": 1,
         "on_loop": True}
    ]  # fmt: skip
    first, nested, unfinished = by_kind["hop"]
    assert first == {
        "kind": "hop", "start_ms": 2.0, "end_ms": 6.0, "duration_ms": 4.0, "thread": 1,
        "on_loop": True, "direction": "sync_to_async", "target": "m.f", "thread_sensitive": True,
        "site": ["/app/views.py", 12, "index"], "queue_wait_ms": 1.0, "run_ms": 2.0,
        "cpu_ms": 1.5, "overhead_ms": 2.0, "run_thread": 2, "nested": False, "error": None,
    }  # fmt: skip
    assert nested["overhead_ms"] == 0.0 and nested["queue_wait_ms"] is None
    assert nested["error"] == "ValueError" and nested["nested"] is True
    assert unfinished["end_ms"] is None and unfinished["overhead_ms"] == 0.0
    query, sub = by_kind["query"]
    assert query["fingerprint"] == "SELECT ? FROM t WHERE a = ?" and query["many"] is True
    assert "sql" not in query and sub["fingerprint"] == "SELECT ?"
    (http,) = by_kind["http"]
    assert (http["client"], http["host"], http["port"], http["path"], http["status"]) == (
        "httpx", "api.example", 443, "/v1", 200,
    )  # fmt: skip
    (cache,) = by_kind["cache"]
    assert (cache["backend"], cache["op"], cache["hit"]) == ("locmem", "get", False)
    (view,) = by_kind["view"]
    assert view["name"] == "app.views.index" and view["is_async"] is True
    (blocking,) = by_kind["blocking"]
    assert blocking["call"] == "time.sleep" and blocking["category"] == "sleep"
    assert blocking["site"] == ["/app/views.py", 12, "index"] and blocking["duration_ms"] == 0.25
    (lag,) = by_kind["loop_lag"]
    assert lag["site"] is None and lag["stack"] == [["/app/views.py", 12, "index"]]
    (exc,) = by_kind["exception"]
    assert exc["type"] == "builtins.KeyError" and "message" not in exc
    assert "secret" not in json.dumps({k: v for k, v in data.items() if k != "private"})
    private = data["private"]["events"]
    assert next(e for e in private if e["kind"] == "exception")["message"] == "user 42"
    assert "secret" in next(e for e in private if e["kind"] == "query")["sql"]


def test_the_summary_adds_up_every_kind_in_one_pass():
    summary = _one_of_each()["summary"]
    assert summary == {
        "hops": 3,
        # 2 ms of the first hop beyond its run, none for the nested async_to_sync; the
        # unfinished one has no duration yet.
        "hop_ms": 2.0,
        "hop_total_ms": 4.0,
        "hop_queue_wait_ms": 1.0,
        "hop_queue_wait_max_ms": 1.0,
        # Counted by exact kind, as ``Trace.of_kind`` does: the subclass is not a Query here.
        "queries": 1,
        "db_ms": 0.5,
        "http_calls": 1,
        "http_ms": 3.0,
        "cache_calls": 1,
        "cache_ms": 0.1,
        "blocking_calls": 1,
        "blocking_ms": 0.25,
        "loop_lags": 1,
        "exceptions": ["builtins.KeyError"],
        "dropped_events": 0,
        "instrument_errors": 0,
    }
