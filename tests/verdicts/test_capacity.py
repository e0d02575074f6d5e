"""The capacity model against cases worked by hand (the sums are in each test's comment).

Erlang B by its recurrence B(k) = A B(k-1) / (k + A B(k-1)), B(0) = 1; Erlang C
C = c B / (c - A (1 - B)); the wait at percentile q: S / (c - A) ln(C / (1 - q)).
"""

from __future__ import annotations

import math

import pytest

from async_audit.verdicts.capacity import (
    Demand,
    Inputs,
    Objective,
    build_loads,
    capacity_section,
    demand,
    erlang_c,
    rates_from_samples,
    request_capacity,
    servers_needed,
    wait_at,
)

OBJECTIVE = Objective(wait_ms=50.0, percentile=0.95, max_loop_load=0.6, threads_per_process=1)


def _http(start: float, end: float) -> dict[str, object]:
    return {"kind": "http", "start_ms": start, "end_ms": end, "duration_ms": end - start,
            "method": "GET", "host": "api", "path": f"/{start}", "status": 200}  # fmt: skip


def _sync_view(
    route: str, wall: float, cpu: float, *events: dict[str, object]
) -> dict[str, object]:
    return {"route": route, "view": f"v.{route.strip('/')}", "view_is_async": False, "wall_ms": wall,
            "cpu_ms": cpu, "summary": {"hops": 0, "hop_ms": 0.0}, "events": list(events)}  # fmt: skip


def _section(traces, rates, convert=None, objective=OBJECTIVE):
    verdicts = {t["route"]: "async-candidate" for t in traces if t["events"]}
    cap = capacity_section(
        Inputs(traces, verdicts, traffic=list(rates.items()), convert=convert), objective
    )
    assert cap is not None
    return cap


# -- Erlang C ------------------------------------------------------------------------------


def test_erlang_c_matches_textbook_values():
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = utilisation
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # B(2) = 0.2; C = 0.4 / 1.2
    assert erlang_c(3, 3.0) == 1.0  # at or past saturation every request waits


def test_the_wait_at_a_percentile_is_the_exponential_tail_of_erlang_c():
    # M/M/1, rho 0.5, S 100 ms: 100 / 0.5 * ln(0.5 / 0.05) = 200 ln 10.
    assert wait_at(1, 0.5, 100.0, 0.95) == pytest.approx(200 * math.log(10))
    assert wait_at(3, 1.0, 100.0, 0.99) > wait_at(3, 1.0, 100.0, 0.95)
    assert wait_at(2, 2.5, 100.0, 0.95) == math.inf


def test_servers_needed_is_the_fewest_meeting_the_wait_objective():
    # A = 1, S = 100 ms. c = 2: C = 1/3, wait = 100 ln(6.67) = 190 ms > 50.
    # c = 3: B = 0.0625, C = 0.1875 / 2.0625 = 0.0909, wait = 50 ln(1.82) = 30 ms <= 50.
    assert servers_needed(1.0, 100.0, OBJECTIVE) == 3
    assert servers_needed(0.0, 100.0, OBJECTIVE) == 0
    relaxed = Objective(wait_ms=200.0)
    assert servers_needed(1.0, 100.0, relaxed) == 2


# -- per request ---------------------------------------------------------------------------


def test_a_sync_fanout_holds_its_worker_for_all_of_it_and_as_async_for_the_longest_call():
    trace = _sync_view("f/", 300.0, 5.0, _http(0, 100), _http(100, 200), _http(200, 300))
    today, after = demand(trace)
    assert today == Demand(worker_ms=300.0, cpu_ms=5.0, thread_ms=300.0)
    assert after == Demand(worker_ms=100.0, cpu_ms=5.0, thread_ms=0.0)


def test_a_panel_gets_one_requests_figures_as_json_safe_dicts():
    trace = _sync_view("f/", 300.0, 5.0, _http(0, 100), _http(100, 200), _http(200, 300))
    assert request_capacity(trace) == {
        "today": {"worker_ms": 300.0, "cpu_ms": 5.0, "thread_ms": 300.0},
        "as_async": {"worker_ms": 100.0, "cpu_ms": 5.0, "thread_ms": 0.0},
    }


def test_queue_waits_and_hand_offs_hold_no_worker():
    trace = _sync_view("f/", 120.0, 5.0, _http(10, 110))
    trace["summary"] = {"hops": 2, "hop_ms": 20.0}
    today, _ = demand(trace)
    assert today.worker_ms == 100.0


def test_an_async_view_holds_threads_only_while_its_hops_run():
    hop = {"kind": "hop", "direction": "sync_to_async", "target": "orm", "start_ms": 10.0,
           "end_ms": 22.0, "duration_ms": 12.0, "queue_wait_ms": 2.0, "run_ms": 10.0,
           "overhead_ms": 0.5, "nested": False, "site": None}  # fmt: skip
    trace = {**_sync_view("a/", 100.0, 4.0, hop), "view_is_async": True}
    trace["summary"] = {"hops": 1, "hop_ms": 2.5}
    today, after = demand(trace)
    assert after is None
    # CPU: 4 ms + 1 hop x 0.5 ms (its price); the thread: the hop's run, not its wait.
    assert today == Demand(worker_ms=97.5, cpu_ms=4.5, thread_ms=10.0)


# -- plans ---------------------------------------------------------------------------------


def test_one_route_plan_today_and_after_converting_a_fanout():
    # 10 req/s x 300 ms = 3 Erlangs. c = 6: C = 0.0991, wait = 100 ln(1.98) = 68 ms > 50;
    # c = 7: C = 0.0376 < 0.05, no wait at p95 -> 7. After: 10 x 100 ms = 1 Erlang -> 3.
    trace = _sync_view("f/", 300.0, 5.0, _http(0, 100), _http(100, 200), _http(200, 300))
    cap = _section([trace], {"f/": 10.0})
    today, after = cap["plan"]["today"]["peak"], cap["plan"]["after"]["peak"]
    assert today["wsgi"]["offered_load"] == 3.0 and today["wsgi"]["workers"] == 7
    assert after["wsgi"]["offered_load"] == 1.0 and after["wsgi"]["workers"] == 3
    # ASGI: 10 x 5 ms = 0.05 CPUs, one process; pool threads: Poisson(3) at 95 % is 6
    # today (P(<= 5) = 0.916, P(<= 6) = 0.966), none after.
    assert today["asgi"]["processes"] == after["asgi"]["processes"] == 1
    assert today["asgi"]["cpu_load"] == 0.05
    assert (today["asgi"]["threads_busy_mean"], today["asgi"]["threads_busy"]) == (3.0, 6)
    assert (after["asgi"]["threads_busy_mean"], after["asgi"]["threads_busy"]) == (0.0, 0)
    assert cap["routes"][0]["converted"] is True and cap["converted_by"] == "advice"


def test_many_routes_share_one_pool_with_the_rate_weighted_service_time():
    # a/: 10 req/s x 100 ms, b/: 30 req/s x 10 ms. A = 1 + 0.3 = 1.3 Erlangs over 40 req/s:
    # S = 32.5 ms. c = 2: C = 0.512, wait = 46.4 ln(10.2) = 108 ms > 50;
    # c = 3: C = 0.170, wait = 19.1 ln(3.41) = 23 ms <= 50 -> 3.
    a = _sync_view("a/", 100.0, 2.0, _http(5, 95))
    b = _sync_view("b/", 10.0, 2.0)
    cap = _section([a, b], {"a/": 10.0, "b/": 30.0})
    wsgi = cap["plan"]["today"]["peak"]["wsgi"]
    assert (wsgi["offered_load"], wsgi["service_ms"], wsgi["workers"]) == (1.3, 32.5, 3)
    assert wsgi["p_wait"] == pytest.approx(0.1704, abs=2e-4)
    assert wsgi["wait_ms"] == pytest.approx(23.4, abs=0.1)
    assert cap["plan"]["today"]["peak"]["rate"] == 40.0


def test_a_route_whose_conversion_gains_nothing_needs_the_same_workers_after():
    # 50 ms of CPU, no I/O: async would run the same CPU on the loop. WSGI: A = 0.5, c = 2
    # (C = 0.1, wait = 33.3 ln 2 = 23 ms). ASGI: one CPU per process (the GIL), M/M/1 per
    # process: n = 4 gives 0.125 per loop and a 52 ms wait; n = 5: 0.1 and 38.5 ms -> 5.
    trace = _sync_view("cpu/", 50.0, 50.0)
    cap = _section([trace], {"cpu/": 10.0}, convert=["cpu/"])
    p = cap["plan"]
    assert p["today"]["peak"]["wsgi"]["workers"] == p["after"]["peak"]["wsgi"]["workers"] == 2
    assert p["today"]["peak"]["asgi"]["processes"] == p["after"]["peak"]["asgi"]["processes"] == 5
    assert p["after"]["peak"]["asgi"]["loop_wait_ms"] == pytest.approx(38.5, abs=0.1)
    assert cap["converted_by"] == "--convert" and cap["routes"][0]["converted"] is True


def test_convert_picks_the_subset_and_leaves_the_rest_as_today():
    fan = _sync_view("api/f/", 300.0, 5.0, _http(0, 100), _http(100, 200), _http(200, 300))
    other = _sync_view("web/f/", 300.0, 5.0, _http(0, 100), _http(100, 200), _http(200, 300))
    loads, _ = build_loads(
        Inputs([fan, other], {"api/f/": "async-candidate", "web/f/": "async-candidate"},
               traffic=[("*", 5.0)], convert=["api/*"])
    )  # fmt: skip
    by_route = {r.route: r for r in loads}
    assert by_route["api/f/"].after.worker_ms == 100.0
    assert by_route["web/f/"].after == by_route["web/f/"].today


def test_the_loop_utilisation_cap_adds_processes():
    # 100 req/s x 9 ms = 0.9 CPUs: the wait alone allows 2 processes (0.45 each, wait
    # 9 / 0.55 ln(9) = 36 ms); a 0.3 cap needs 3.
    trace = _sync_view("c/", 9.0, 9.0)
    loose = _section([trace], {"c/": 100.0})
    tight = _section([trace], {"c/": 100.0}, objective=Objective(max_loop_load=0.3))
    assert loose["plan"]["today"]["peak"]["asgi"]["processes"] == 2
    assert tight["plan"]["today"]["peak"]["asgi"]["processes"] == 3


def test_routes_without_traffic_are_named_in_a_note_not_planned():
    cap = capacity_section(Inputs([_sync_view("a/", 10.0, 1.0)], {}), OBJECTIVE)
    assert cap is not None and cap["plan"] is None and cap["routes"] == []
    assert "no arrival rate for 1 route(s)" in cap["notes"][0] and "--traffic" in cap["notes"][0]
    assert capacity_section(Inputs([], {}), OBJECTIVE) is None


# -- arrival rates from samples ------------------------------------------------------------


def test_rates_from_samples_weigh_each_sample_by_its_rate_and_find_the_busiest_interval():
    # a/ at 10 %: 6 samples in the first minute, 2 later (t = 100, 170): 80 requests over
    # the 3 clock minutes spanned (960 s starts one) = 0.44 req/s; the first minute holds 60
    # requests = 1 req/s. b/ at 50 %: one sample (2 requests) outside the busiest minute.
    # One sample has no rate: unusable. The same whatever order samples come in.
    samples = [{"route": "a/", "sample_rate": 0.1, "started_at": 960.0 + t}
               for t in (0, 10, 20, 30, 40, 50, 100, 170)]  # fmt: skip
    samples += [{"route": "b/", "sample_rate": 0.5, "started_at": 1025.0}, {"route": "a/"}]
    rates, info = rates_from_samples(samples, 60.0)
    assert rates["a/"] == pytest.approx((80 / 180, 1.0))
    assert rates["b/"] == pytest.approx((2 / 180, 0.0))
    assert info == {"samples_used": 9, "samples_unusable": 1, "window_s": 180.0, "interval_s": 60.0}


def test_a_burst_across_a_minute_boundary_peaks_no_lower_than_its_average():
    # Seconds of traffic either side of 12:01: two clock minutes, not one minute (where the
    # busiest would hold half the requests and the peak fall below the average).
    samples = [{"route": r, "sample_rate": 1.0, "started_at": 720.0 + t}
               for r, t in (("a/", -1), ("a/", -1), ("b/", 1), ("b/", 1), ("b/", 1))]  # fmt: skip
    rates, info = rates_from_samples(samples, 60.0)
    assert info["window_s"] == 120.0
    assert rates["b/"] == pytest.approx((3 / 120, 3 / 60))
    assert rates["a/"] == pytest.approx((2 / 120, 0.0))  # not there at the busiest moment
    assert sum(p for _, p in rates.values()) >= sum(a for a, _ in rates.values())


def test_the_root_route_is_keyed_by_its_empty_pattern():
    rates, _ = rates_from_samples(
        [{"route": "", "view": "v.home", "sample_rate": 1.0, "started_at": 0.0}], 60.0
    )
    assert list(rates) == [""]


def test_arrival_rates_do_not_depend_on_the_order_samples_are_read_in_and_skip_forced_ones():
    samples = [
        {"route": "a/", "sample_rate": 0.5, "started_at": 600.0 + t} for t in (0, 5, 59, 61, 200)
    ]
    forward, _ = rates_from_samples(samples, 60.0)
    backward, info = rates_from_samples([*reversed(samples), {**samples[0], "forced": True}], 60.0)
    assert forward == backward
    assert forward["a/"] == pytest.approx((10 / 240, 6 / 60))  # minutes 10 to 13: 240 s
    assert info["samples_forced"] == 1 and info["samples_used"] == 5


def test_a_regex_route_named_exactly_gets_its_traffic_and_its_conversion():
    # re_path patterns hold "[0-9]": as a glob that is a character class, never the pattern.
    route = r"^items/(?P<pk>[0-9]+)/$"
    trace = _sync_view(route, 300.0, 5.0, _http(0, 100), _http(100, 200), _http(200, 300))
    cap = _section([trace], {route: 10.0}, convert=[route])
    assert cap["plan"]["today"]["peak"]["wsgi"]["workers"] == 7  # as for "f/" above
    assert cap["routes"][0]["converted"] is True


def test_any_load_is_planned_in_a_few_evaluations_and_an_impossible_one_stays_strict_json(
    monkeypatch: pytest.MonkeyPatch,
):
    import json

    from async_audit.verdicts import capacity

    # 50,000 Erlangs: a server-by-server search costs one Erlang C of 50,000 terms per step
    # (a report that never ended). Counted, not timed.
    calls = []
    real = capacity.erlang_c
    monkeypatch.setattr(capacity, "erlang_c", lambda c, a: calls.append(c) or real(c, a))
    c = servers_needed(50_000.0, 100.0, OBJECTIVE)
    assert 50_000 < c < 50_000 + 10 * math.sqrt(50_000)
    assert len(calls) < 40
    # The fewest meeting the objective: one fewer does not meet it.
    assert (
        wait_at(c - 1, 50_000.0, 100.0, 0.95)
        > OBJECTIVE.wait_ms
        >= wait_at(c, 50_000.0, 100.0, 0.95)
    )
    assert not servers_needed(math.nan, 100.0, OBJECTIVE)
    trace = _sync_view("f/", 300.0, 5.0, _http(0, 300))
    cap = _section([trace], {"f/": 1e9})  # a billion requests a second: beyond any plan
    wsgi = cap["plan"]["today"]["peak"]["wsgi"]
    assert wsgi["workers"] == 100_000 and wsgi["wait_ms"] is None
    json.dumps(cap, allow_nan=False)
