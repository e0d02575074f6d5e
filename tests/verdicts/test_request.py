from __future__ import annotations

from async_audit.verdicts import facts


def _hop(start, wait, run, thread=7, target="m.f"):
    return {"kind": "hop", "direction": "sync_to_async", "target": target, "start_ms": start,
            "end_ms": start + wait + run, "duration_ms": wait + run, "queue_wait_ms": wait, "run_ms": run,
            "overhead_ms": wait, "run_thread": thread, "nested": False, "site": None}  # fmt: skip


def _trace(*events):
    return {
        "wall_ms": 100.0,
        "cpu_ms": 1.0,
        "view_is_async": True,
        "events": list(events),
        "summary": {},
    }


def test_a_wait_behind_another_hop_of_the_request_is_contention():
    f = facts(_trace(_hop(0, 0, 20), _hop(1, 19, 5)))
    assert f.max_queue_wait_ms == 19


def test_a_wait_with_nothing_else_on_the_thread_is_not_contention():
    # e.g. the thread being started, or a busy machine: not what AA304 reports.
    assert facts(_trace(_hop(0, 12, 5))).max_queue_wait_ms == 0


def test_hops_on_different_threads_do_not_contend():
    assert facts(_trace(_hop(0, 0, 20, thread=1), _hop(1, 19, 5, thread=2))).max_queue_wait_ms == 0


def test_a_wait_inside_the_hop_that_runs_it_is_not_contention():
    # A sync middleware's hop runs the inner chain on its thread; an inner hop queued there
    # waits inside its parent's run, not behind a rival.
    outer = _hop(0, 0, 100)
    assert facts(_trace(outer, _hop(10, 12, 5))).max_queue_wait_ms == 0
    # A rival beside them still counts.
    assert facts(_trace(outer, _hop(10, 0, 30), _hop(11, 29, 5))).max_queue_wait_ms == 29


# -- sort and sweep: the same answers as the pairwise definitions, in n log n ------------------


def _pairwise_overlap(a, b):
    return a["start_ms"] < b["end_ms"] and b["start_ms"] < a["end_ms"]


def _pairwise_within(inner, outer):
    return outer["start_ms"] <= inner["start_ms"] and inner["end_ms"] <= outer["end_ms"]


def _pairwise_run(hop):
    if hop.get("queue_wait_ms") is None or hop.get("run_ms") is None:
        return hop
    start = hop["start_ms"] + hop["queue_wait_ms"]
    return {"start_ms": start, "end_ms": start + hop["run_ms"]}


def _pairwise_contended_wait(hops):
    """The definition, checked pair by pair (what verdicts did before the sweep)."""
    longest = 0.0
    for h in hops:
        wait = h.get("queue_wait_ms") or 0.0
        if wait <= longest or h.get("run_thread") is None:
            continue
        window = {"start_ms": h["start_ms"], "end_ms": h["start_ms"] + wait}
        if any(
            g is not h
            and g.get("run_thread") == h["run_thread"]
            and _pairwise_overlap(_pairwise_run(g), window)
            and not _pairwise_within(h, _pairwise_run(g))
            for g in hops
            if g.get("queue_wait_ms") is not None and g.get("run_ms") is not None
        ):
            longest = wait
    return longest


def _pairwise_serial(calls, hops):
    out = [c for c in calls if not any(o is not c and _pairwise_overlap(o, c) for o in calls)]
    hop_of = {}
    for c in out:
        around = [h for h in hops if _pairwise_within(c, _pairwise_run(h))]
        hop_of[id(c)] = max(around, key=lambda h: _pairwise_run(h)["start_ms"]) if around else None
    queued = set()
    for c in out:
        for d in out:
            hc, hd = hop_of[id(c)], hop_of[id(d)]
            both = c is not d and hc is not None and hd is not None and hc is not hd
            if both and _pairwise_overlap(hc, hd):
                queued.add(id(c))
    return [c for c in out if id(c) not in queued]


def _random_trace(rng, n_hops, n_calls, span=200):
    # Whole milliseconds, so that ties and shared edges (the hard cases) are frequent.
    hops = []
    for _ in range(n_hops):
        start, wait, run = (
            rng.randint(0, span),
            rng.choice([0, 0, rng.randint(1, 30)]),
            rng.randint(0, 40),
        )
        hops.append(_hop(start, wait, run, thread=rng.choice([1, 2, None])))
        if rng.random() < 0.1:
            hops[-1]["run_ms"] = None
    calls = []
    for _ in range(n_calls):
        start = rng.randint(0, span)
        end = start + rng.choice([0, rng.randint(1, 30)])
        calls.append({"kind": "http", "start_ms": start, "end_ms": end, "duration_ms": end - start,
                      "method": "GET", "host": "h", "path": "/"})  # fmt: skip
    return hops, sorted(calls, key=lambda c: c["start_ms"])


def test_the_sweeps_give_the_same_answers_as_the_pairwise_definitions():
    import random

    from async_audit.verdicts.request import _contended_wait, _serial

    rng = random.Random(9)
    for _ in range(400):
        hops, calls = _random_trace(rng, rng.randint(0, 25), rng.randint(0, 8))
        assert _contended_wait(hops) == _pairwise_contended_wait(hops)
        assert _serial(calls, hops) == _pairwise_serial(calls, hops)


class _CountingEvent(dict):
    """An event that counts how often verdict code reads it."""

    reads = 0

    def __getitem__(self, key):
        _CountingEvent.reads += 1
        return super().__getitem__(key)

    def get(self, key, default=None):
        _CountingEvent.reads += 1
        return super().get(key, default)


def _hop_heavy_trace(n):
    # A gathered fan-out of thread-sensitive hops, each queueing behind the one before it,
    # with an outbound call inside each: the shape that made verdicts quadratic.
    events = []
    for i in range(n):
        events.append(_CountingEvent(_hop(i * 2.0, 1.5, 2.0, target=f"m.f{i}")))
        events.append(_CountingEvent({"kind": "http", "start_ms": i * 2.0 + 1.6, "end_ms": i * 2.0 + 1.9,
                                      "duration_ms": 0.3, "method": "GET", "host": "h", "path": "/"}))  # fmt: skip
    trace = _trace(*events)
    trace["wall_ms"] = n * 2.0 + 10
    return trace


def test_verdict_work_grows_about_linearly_with_a_traces_hops():
    reads = []
    for n in (500, 4000):
        _CountingEvent.reads = 0
        f = facts(_hop_heavy_trace(n))
        assert f.max_queue_wait_ms == 1.5 and f.serial_http == []
        reads.append(_CountingEvent.reads)
    # 8x the hops: n log n reads about 8-10x as often, a pairwise check 64x.
    assert reads[1] < 12 * reads[0], reads
