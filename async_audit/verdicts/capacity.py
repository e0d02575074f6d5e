"""Capacity plan: how many workers a traffic mix needs today, and after converting routes.

Pure functions (no Django request machinery, no I/O): traces and arrival rates in, a plan
out, for the two deployments a team may pick.

**What holds a worker, per request** (``demand``):

- WSGI (``gunicorn`` sync workers, processes x threads): every view holds its worker for
  its whole wall time, hops apart (a WSGI request makes none; an async view under WSGI is
  run by ``async_to_sync`` and holds the worker all the same).
- ASGI: a Python process has one GIL, so its CPU is one server: the event loop's CPU plus
  every thread's, plus what each hop costs (hops x the request's median hop price; queue
  waits are waits, not work). A sync view holds a thread of the sync pool for its wall
  time; an async view holds threads only while its ``sync_to_async`` hops run (DB and
  cache calls). Django gives each request its own thread-sensitive thread, so the pool is
  not a queue: its occupancy is reported, not waited for.
- After converting a sync view: its predicted async figures (``verdicts.request``): the
  fan-out overlaps, DB and cache calls move to threads behind one hop each, the view hop
  goes, CPU stays. Under WSGI a converted view still holds its worker, for the shorter
  predicted time.

**Why Erlang C (M/M/c) and a wait-time percentile.** The question is "how many servers so
that a burst does not make requests queue for long", which mean load x time cannot answer:
6 Erlangs of load on 6 workers queues forever. Erlang C gives, for Poisson arrivals at rate
lambda and c servers of mean service time S, the probability of waiting and the wait's
distribution, P(W > t) = C(c, A) exp(-(c - A) t / S) with A = lambda S, so the objective "at
most ``wait_ms`` of queueing at the ``percentile``" has a closed form and the report can
show every input. A simulation over sampled arrivals would follow real bursts more
closely, but needs every arrival (samples hold 1 % of them) and cannot be checked by hand.
Real service times vary less than M/M/c's exponential ones, so the model errs on the side
of one worker too many; the peak interval's rate (the busiest one seen) covers bursts
longer than a few service times. The event loop of each ASGI process is the same model
with c = 1, plus a utilisation cap (``max_loop_load``): past it every await is late.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from async_audit.conf import MIN_SAMPLE_RATE
from async_audit.findings import route_label
from async_audit.verdicts.measured import route_key, route_matches
from async_audit.verdicts.request import RequestFacts, _is_view_hop, facts

__all__ = [
    "Arrivals",
    "CapacityOptions",
    "Demand",
    "Inputs",
    "Objective",
    "RouteEvidence",
    "RouteLoad",
    "build_loads",
    "capacity_section",
    "demand",
    "erlang_c",
    "plan",
    "rates_from_samples",
    "request_capacity",
    "route_evidence",
    "servers_needed",
    "wait_at",
]

_MAX_SERVERS = 100_000


@dataclass(frozen=True)
class Objective:
    """The target: at most ``wait_ms`` of queueing at ``percentile`` (0-1)."""

    wait_ms: float = 50.0
    percentile: float = 0.95
    max_loop_load: float = 0.6  # share of one CPU an event loop may be busy
    threads_per_process: int = 1  # WSGI threads per process (gunicorn --threads)


@dataclass(frozen=True)
class CapacityOptions:
    """The command's capacity inputs: objective, peak interval, ``--traffic``, ``--convert``."""

    objective: Objective = field(default_factory=Objective)
    interval_s: float = 60.0
    traffic: Sequence[tuple[str, float]] = ()
    convert: Sequence[str] | None = None

    @classmethod
    def from_settings(cls, **kwargs: Any) -> CapacityOptions:
        """From ``settings.ASYNC_AUDIT`` (bad values fall back to the defaults)."""
        from async_audit import conf

        objective = Objective(
            wait_ms=float(conf.get("CAPACITY_WAIT_MS")),
            percentile=float(conf.get("CAPACITY_PERCENTILE")),
            max_loop_load=float(conf.get("CAPACITY_MAX_LOOP_LOAD")),
            threads_per_process=int(conf.get("CAPACITY_THREADS")),
        )
        return cls(objective, float(conf.get("CAPACITY_PEAK_INTERVAL_S")), **kwargs)


@dataclass(frozen=True)
class Demand:
    """What one request holds, in ms: a WSGI worker, an ASGI process's CPU, a pool thread."""

    worker_ms: float
    cpu_ms: float
    thread_ms: float

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in asdict(self).items()}


@dataclass
class RouteLoad:
    """One route's traffic and its per-request demand, today and after conversion."""

    route: str
    view: str | None
    verdict: str | None
    is_async: bool | None
    rate_avg: float
    rate_peak: float
    rate_source: str
    today: Demand
    converted: Demand | None  # None: an async view already, or nothing predicted
    convert: bool = False
    samples: int = 0

    @property
    def after(self) -> Demand:
        return self.converted if self.convert and self.converted is not None else self.today


# -- per request ---------------------------------------------------------------------------


def demand(trace: dict[str, Any], f: RequestFacts | None = None) -> tuple[Demand, Demand | None]:
    """(today, as an async view) for one request's trace; the second is None for an async
    view or a trace without a prediction. The panel can show these for its request."""
    f = f or facts(trace)
    b = f.breakdown
    hops_cost = b.hops * f.hop_cost_ms
    held = max(b.cpu_ms, b.wall_ms - b.hop_ms)  # queue waits and hand-offs hold nothing
    # Threads are held while top-level hops run; a nested hop runs inside its parent's
    # thread (a sync-only middleware holds one for everything below it).
    top = [
        h
        for h in f.trace["events"]
        if h["kind"] == "hop" and h.get("direction") == "sync_to_async" and not h.get("nested")
    ]
    runs = sum(h.get("run_ms") or 0.0 for h in top)
    if f.is_async:
        return Demand(held, b.cpu_ms + hops_cost, runs), None
    today = Demand(held, b.cpu_ms + hops_cost, runs if top else held)
    if f.predicted_async_ms is None:
        return today, None
    added = (f.queries + f.cache_calls) * f.hop_cost_ms
    worker = max(b.cpu_ms, held - f.fanout_saving_ms)
    cpu = max(b.cpu_ms, b.cpu_ms + hops_cost - f.view_hop_overhead_ms + added)
    own = b.io_by_kind.get("db", 0.0) + b.io_by_kind.get("cache", 0.0)
    view = trace.get("view")
    view_top = [h for h in top if _is_view_hop(h, view)]
    if view_top or not top:
        # The view's own hop goes; its DB and cache calls hop one by one instead.
        thread = runs - sum(h.get("run_ms") or 0.0 for h in view_top) + own
    else:
        # A sync middleware's thread holds the view: it is held for the shorter time.
        thread = max(own, runs - max(0.0, b.wall_ms - f.predicted_async_ms))
    return today, Demand(worker, cpu, thread)


def request_capacity(trace: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe figures of one request for a panel: what it holds today and as async."""
    today, converted = demand(trace)
    return {"today": today.rounded(), "as_async": converted.rounded() if converted else None}


def _mean(demands: Sequence[Demand]) -> Demand:
    return Demand(
        statistics.fmean(d.worker_ms for d in demands),
        statistics.fmean(d.cpu_ms for d in demands),
        statistics.fmean(d.thread_ms for d in demands),
    )


# -- arrival rates -------------------------------------------------------------------------


class Arrivals:
    """Arrival rates streamed from samples, one ``add`` each: memory grows with routes and
    intervals, never with samples (the command reads every stored sample through it, while
    only a bounded reservoir of them is kept for the verdicts).

    Each sample stands for ``1 / sample_rate`` requests. Forced samples (the signed header)
    were not drawn at random: they say nothing about traffic and are left out.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.used = 0
        self.unusable = 0
        self.forced = 0
        self._buckets: dict[int, dict[str, float]] = {}
        self._totals: dict[str, float] = {}

    def add(self, s: dict[str, Any]) -> None:
        if s.get("forced"):
            self.forced += 1
            return
        rate, at = s.get("sample_rate"), s.get("started_at")
        if (
            not isinstance(rate, (int, float))
            or isinstance(rate, bool)
            or not MIN_SAMPLE_RATE <= rate <= 1
            or not isinstance(at, (int, float))
            or not math.isfinite(at)
        ):
            self.unusable += 1
            return
        at = float(at)
        key, weight = route_key(s), 1.0 / rate
        # Intervals on the clock (whole minutes for 60 s): the same answer in any read order.
        bucket = self._buckets.setdefault(int(at // self.interval_s), {})
        bucket[key] = bucket.get(key, 0.0) + weight
        self._totals[key] = self._totals.get(key, 0.0) + weight
        self.used += 1

    def add_interval(self, key: str, bucket: int, weight: float, n: int) -> None:
        """``n`` usable samples of one route in one clock interval, aggregated by a database:
        what ``add`` would have made of them one by one (``weight``: their 1 / rate summed)."""
        per_bucket = self._buckets.setdefault(bucket, {})
        per_bucket[key] = per_bucket.get(key, 0.0) + weight
        self._totals[key] = self._totals.get(key, 0.0) + weight
        self.used += n

    def rates(self) -> tuple[dict[str, tuple[float, float]], dict[str, Any]]:
        """Per route ``(average, peak)`` requests per second, and how they were estimated.

        The average is over the clock intervals the samples span, first to last; the peak is
        every route's rate in the busiest of them (busiest over all routes: the plan sizes for
        the mix of the worst moment, where a route absent then counts 0). Measured on the same
        intervals, the whole's peak is never below its average: a span of seconds across two
        minutes is two minutes, not one with half its requests in the busiest.
        """
        info: dict[str, Any] = {"samples_used": self.used, "samples_unusable": self.unusable}
        if self.forced:
            info["samples_forced"] = self.forced
        if not self._totals:
            return {}, info
        window = (max(self._buckets) - min(self._buckets) + 1) * self.interval_s
        busiest = max(self._buckets.values(), key=lambda b: sum(b.values()))
        info.update(window_s=round(window, 1), interval_s=self.interval_s)
        return {
            key: (total / window, busiest.get(key, 0.0) / self.interval_s)
            for key, total in self._totals.items()
        }, info


def rates_from_samples(
    samples: Iterable[dict[str, Any]], interval_s: float
) -> tuple[dict[str, tuple[float, float]], dict[str, Any]]:
    """``Arrivals`` over ``samples`` (see there)."""
    arrivals = Arrivals(interval_s)
    for s in samples:
        arrivals.add(s)
    return arrivals.rates()


# -- the queueing model --------------------------------------------------------------------


def erlang_c(c: int, load: float) -> float:
    """Probability that an arrival waits, M/M/c with offered load ``load`` Erlangs."""
    if load <= 0:
        return 0.0
    if load >= c:
        return 1.0
    b = 1.0  # Erlang B by its stable recurrence
    for k in range(1, c + 1):
        b = load * b / (k + load * b)
    return c * b / (c - load * (1 - b))


def wait_at(c: int, load: float, service_ms: float, percentile: float) -> float:
    """Queue wait (ms) not exceeded by ``percentile`` of requests; inf when overloaded."""
    if load <= 0 or service_ms <= 0:
        return 0.0
    if load >= c:
        return math.inf
    p_wait = erlang_c(c, load)
    tail = 1.0 - percentile
    if p_wait <= tail:
        return 0.0
    return service_ms / (c - load) * math.log(p_wait / tail)


def servers_needed(
    load: float, service_ms: float, objective: Objective, max_utilisation: float = 1.0
) -> int:
    """The fewest servers meeting the wait objective (and the utilisation cap), at most
    ``_MAX_SERVERS``.

    The wait falls as servers are added, so the answer is bracketed by doubling steps of
    about sqrt(load) (square-root staffing: the answer is load + O(sqrt(load))), then found
    by bisection: a few dozen Erlang C evaluations for any load, never one per server.
    """
    if not load > 0:
        return 0
    if not math.isfinite(load) or load / max_utilisation >= _MAX_SERVERS:
        return _MAX_SERVERS

    def meets(c: int) -> bool:
        return load < c and wait_at(c, load, service_ms, objective.percentile) <= objective.wait_ms

    low = max(1, math.ceil(load / max_utilisation - 1e-9))
    if meets(low):
        return low
    step = max(1, math.ceil(math.sqrt(load)))
    high = low + step
    while not meets(high):
        if high >= _MAX_SERVERS:
            return _MAX_SERVERS
        low, step = high, step * 2
        high = min(_MAX_SERVERS, high + step)
    while high - low > 1:  # low fails, high meets
        mid = (low + high) // 2
        low, high = (low, mid) if meets(mid) else (mid, high)
    return high


def _poisson_quantile(mean: float, q: float) -> int:
    """Busy threads at quantile q: with one thread per request (M/M/inf) the count is Poisson."""
    if mean <= 0:
        return 0
    k, term = 0, math.exp(-mean)
    if term == 0.0:  # a huge mean: the normal approximation
        return math.ceil(mean + 1.645 * math.sqrt(mean))
    cdf = term
    while cdf < q and k < _MAX_SERVERS:
        k += 1
        term *= mean / k
        cdf += term
    return k


def _finite(ms: float) -> float | None:
    """A wait for the JSON report: ``None`` (null) where the model says "for ever" (a load
    past ``_MAX_SERVERS`` servers): strict JSON has no Infinity."""
    return round(ms, 2) if math.isfinite(ms) else None


def _side(loads: Sequence[tuple[float, Demand]], objective: Objective) -> dict[str, Any]:
    """Both deployments for one set of (rate, demand) pairs."""
    rate = sum(r for r, _ in loads)
    out: dict[str, Any] = {"rate": round(rate, 3)}
    if rate <= 0:
        return {**out, "wsgi": None, "asgi": None}

    def weighted(part: str) -> float:
        return float(sum(r * getattr(d, part) for r, d in loads)) / rate

    s_worker, s_cpu, s_thread = weighted("worker_ms"), weighted("cpu_ms"), weighted("thread_ms")
    a_worker = rate * s_worker / 1000.0
    workers = max(1, servers_needed(a_worker, s_worker, objective))
    out["wsgi"] = {
        "service_ms": round(s_worker, 2),
        "offered_load": round(a_worker, 3),
        "workers": workers,
        "threads": objective.threads_per_process,
        "processes": math.ceil(workers / objective.threads_per_process),
        "utilisation": round(a_worker / workers, 3),
        "p_wait": round(erlang_c(workers, a_worker), 4),
        "wait_ms": _finite(wait_at(workers, a_worker, s_worker, objective.percentile)),
    }
    a_cpu = rate * s_cpu / 1000.0
    # Each process's loop is an M/M/1 server fed 1/n of the arrivals (no fewer processes
    # than the loop-load cap allows).
    n = max(1, min(_MAX_SERVERS, math.ceil(a_cpu / objective.max_loop_load - 1e-9)))
    while n < _MAX_SERVERS and not (
        a_cpu / n <= objective.max_loop_load
        and wait_at(1, a_cpu / n, s_cpu, objective.percentile) <= objective.wait_ms
    ):
        n += 1
    a_thread = rate * s_thread / 1000.0
    out["asgi"] = {
        "cpu_ms": round(s_cpu, 2),
        "cpu_load": round(a_cpu, 3),
        "processes": n,
        "loop_load": round(a_cpu / n, 3),
        "loop_wait_ms": _finite(wait_at(1, a_cpu / n, s_cpu, objective.percentile)),
        "thread_ms": round(s_thread, 2),
        "threads_busy_mean": round(a_thread, 2),
        "threads_busy": _poisson_quantile(a_thread / n, objective.percentile),
    }
    return out


def plan(routes: Sequence[RouteLoad], objective: Objective) -> dict[str, Any]:
    """Today and after, each for the peak and the average rate, both deployments."""
    out: dict[str, Any] = {}
    for when in ("today", "after"):
        demands = [r.today if when == "today" else r.after for r in routes]
        out[when] = {
            "peak": _side(
                [(r.rate_peak, d) for r, d in zip(routes, demands, strict=True)], objective
            ),
            "average": _side(
                [(r.rate_avg, d) for r, d in zip(routes, demands, strict=True)], objective
            ),
        }
    return out


# -- from traces to a plan -----------------------------------------------------------------


@dataclass
class RouteEvidence:
    """What the model needs of one route's measured traces: their demands, today and as async
    (so a reader can judge a route's traces and let them go before reading the next)."""

    view: str | None
    is_async: bool | None
    demands: list[tuple[Demand, Demand | None]]


def route_evidence(
    traces: Iterable[dict[str, Any]],
    facts_of: Callable[[dict[str, Any]], RequestFacts] = facts,
) -> dict[str, RouteEvidence]:
    """Per route key, the ``RouteEvidence`` of ``traces`` (measured ones)."""
    out: dict[str, RouteEvidence] = {}
    for t in traces:
        key = route_key(t)
        if key not in out:
            out[key] = RouteEvidence(t.get("view"), t.get("view_is_async"), [])
        out[key].demands.append(demand(t, facts_of(t)))
    return out


@dataclass
class Inputs:
    """What the report gives the model, gathered in one place."""

    traces: Sequence[dict[str, Any]]
    verdicts: Mapping[str, str]  # route key -> verdict
    sample_rates: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    traffic: Sequence[tuple[str, float]] = ()  # (route glob, req/s), later ones win
    convert: Sequence[str] | None = None  # route globs; None: the async candidates
    evidence: Mapping[str, RouteEvidence] | None = None  # instead of traces, if given


def build_loads(inputs: Inputs) -> tuple[list[RouteLoad], list[str]]:
    """One RouteLoad per route with both evidence and traffic; notes for the rest."""
    groups = inputs.evidence if inputs.evidence is not None else route_evidence(inputs.traces)
    notes: list[str] = []
    loads: list[RouteLoad] = []
    no_rate: list[str] = []
    for key, evidence in groups.items():
        rate_avg, rate_peak, source = 0.0, 0.0, ""
        if key in inputs.sample_rates:
            rate_avg, rate_peak = inputs.sample_rates[key]
            source = "samples"
        for glob, rate in inputs.traffic:
            if route_matches(key, glob):
                rate_avg = rate_peak = rate
                source = f"--traffic {glob}={rate:g}"
        if not source:
            no_rate.append(key)
            continue
        pairs = evidence.demands
        converted = [c for _, c in pairs if c is not None]
        verdict = inputs.verdicts.get(key)
        convert = (
            verdict == "async-candidate"
            if inputs.convert is None
            else any(route_matches(key, g) for g in inputs.convert)
        )
        loads.append(
            RouteLoad(
                route=key,
                view=evidence.view,
                verdict=verdict,
                is_async=evidence.is_async,
                rate_avg=rate_avg,
                rate_peak=rate_peak,
                rate_source=source,
                today=_mean([d for d, _ in pairs]),
                converted=_mean(converted) if len(converted) == len(pairs) else None,
                convert=convert,
                samples=len(pairs),
            )
        )
    if no_rate:
        notes.append(
            f"capacity: no arrival rate for {len(no_rate)} route(s) with evidence "
            f"({', '.join(route_label(r) for r in sorted(no_rate)[:5])}"
            f"{' ...' if len(no_rate) > 5 else ''}): "
            "give --traffic ROUTE=REQ_PER_S or store samples with sample_rate and started_at"
        )
    for load in loads:
        if load.convert and load.converted is None:
            notes.append(
                f"capacity: {route_label(load.route)} is already async: nothing to convert"
            )
    return sorted(loads, key=lambda r: -r.rate_peak * r.today.worker_ms), notes


def capacity_section(
    inputs: Inputs, objective: Objective, rate_info: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The report's ``capacity`` object, or None when no route has both traffic and evidence."""
    loads, notes = build_loads(inputs)
    if not loads:
        return {"routes": [], "plan": None, "notes": notes} if notes else None
    return {
        "model": "erlang-c",
        "objective": asdict(objective),
        "rates": dict(rate_info or {}),
        "converted_by": "advice" if inputs.convert is None else "--convert",
        "routes": [
            {
                "route": r.route,
                "view": r.view,
                "verdict": r.verdict,
                "is_async": r.is_async,
                "samples": r.samples,
                "rate_avg": round(r.rate_avg, 3),
                "rate_peak": round(r.rate_peak, 3),
                "rate_source": r.rate_source,
                "converted": r.convert and r.converted is not None,
                "today": r.today.rounded(),
                "after": r.after.rounded(),
            }
            for r in loads
        ],
        "plan": plan(loads, objective),
        "notes": notes,
    }
