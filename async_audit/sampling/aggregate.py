"""Reading any number of samples in bounded memory: a reservoir per route.

Samples stream in one at a time. Per route, ``Reservoir`` keeps a uniform random sample of
at most ``per_route`` traces (Vitter's algorithm R) for the percentiles and the shape of the
route, plus up to ``evidence_per_route`` traces holding something that must be reported
when it happens at all (a blocking call or a stall on the loop, an exception), so a rare
AA301/AA302/AA308 is never sampled away. Counts per route are exact. Memory is bounded by
the number of routes (URL patterns), never by the number of samples.
"""

from __future__ import annotations

import random
from typing import Any

from async_audit.verdicts.measured import route_key

__all__ = ["EVIDENCE_PER_ROUTE", "PER_ROUTE", "Reservoir", "has_evidence"]

PER_ROUTE = 500
EVIDENCE_PER_ROUTE = 50


def has_evidence(trace: dict[str, Any]) -> bool:
    """A blocking call, a loop stall or an exception: must be reported if it happens at all."""
    s = trace.get("summary") or {}
    return bool(s.get("blocking_calls") or s.get("loop_lags") or s.get("exceptions"))


class Reservoir:
    def __init__(
        self,
        per_route: int = PER_ROUTE,
        evidence_per_route: int = EVIDENCE_PER_ROUTE,
        rng: random.Random | None = None,
    ) -> None:
        self.per_route = per_route
        self.evidence_per_route = evidence_per_route
        self.rng = rng or random.Random()
        self.total = 0
        self.counts: dict[str, int] = {}
        self._kept: dict[str, list[dict[str, Any]]] = {}
        self._evidence: dict[str, list[dict[str, Any]]] = {}

    def add(self, trace: dict[str, Any]) -> None:
        key = route_key(trace)
        self.total += 1
        n = self.counts[key] = self.counts.get(key, 0) + 1
        if has_evidence(trace):
            evidence = self._evidence.setdefault(key, [])
            if len(evidence) < self.evidence_per_route:
                evidence.append(trace)
                return
        kept = self._kept.setdefault(key, [])
        if len(kept) < self.per_route:
            kept.append(trace)
        else:
            slot = self.rng.randrange(n)
            if slot < self.per_route:
                kept[slot] = trace

    def traces(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for key in self.counts:
            out.extend(self._evidence.get(key, ()))
            out.extend(self._kept.get(key, ()))
        return out

    def not_kept(self) -> dict[str, int]:
        """Per route key, samples counted but not kept."""
        out = {}
        for key, n in self.counts.items():
            kept = len(self._kept.get(key, ())) + len(self._evidence.get(key, ()))
            if n > kept:
                out[key] = n - kept
        return out

    @property
    def kept(self) -> int:
        return sum(len(v) for v in self._kept.values()) + sum(
            len(v) for v in self._evidence.values()
        )
