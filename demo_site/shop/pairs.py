"""The sync/async view pairs that do the same work, for validating latency predictions.

For each pair, the sync view is what a project has today and the async view is its
rewrite; both make the same upstream calls (or run the same CPU work, or the same queries)
and return the same JSON or HTML. The audit probes the sync view and predicts the async
latency (AA305 ``predicted_async_ms``); probing the async view measures it.
``expected_ms`` is what the work itself costs on an idle machine, overheads aside.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["PAIRS", "Pair"]


# Functional syntax: "async" is a keyword, and the key is spelled the way readers expect.
Pair = TypedDict(
    "Pair",
    {
        "name": str,
        "sync": str,
        "async": str,
        "work": str,
        "expected_ms": dict[str, float],
        "expect": dict[str, list[str]],
    },
)


PAIRS: list[Pair] = [
    {
        "name": "fanout",
        "sync": "/fanout/sync/",
        "async": "/fanout/async/",
        "work": "3 independent upstream GETs of 100 ms each",
        "expected_ms": {"sync": 300.0, "async": 100.0},
        "expect": {"sync": ["AA305", "AA306"], "async": []},
    },
    {
        "name": "slow-call",
        "sync": "/slow-call/sync/",
        "async": "/slow-call/async/",
        "work": "1 upstream GET of 150 ms",
        "expected_ms": {"sync": 150.0, "async": 150.0},
        "expect": {"sync": ["AA305"], "async": []},
    },
    {
        "name": "cpu",
        "sync": "/cpu/sync/",
        "async": "/cpu/async/",
        "work": "about 50 ms of pure-Python CPU work (primes below 34,000)",
        "expected_ms": {"sync": 50.0, "async": 50.0},
        "expect": {"sync": ["AA307"], "async": []},
    },
    {
        "name": "db",
        "sync": "/db/sync/",
        "async": "/db/async/",
        "work": "2 small queries (a page of products with their category, a count) + a template",
        "expected_ms": {"sync": 3.0, "async": 3.0},
        "expect": {"sync": ["AA307"], "async": []},
    },
]
