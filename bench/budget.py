"""What an async budget adds to a test's requests: AsyncClient GETs with and without one.

    python bench/budget.py [--requests 200] [--rounds 5] [--seconds 60]

Runs ``tests.settings`` (startproject's seven middleware) in-process. Each round times
``--requests`` GETs of ``/async/`` through ``AsyncClient`` on one event loop, plain, then
inside ``AsyncBudget`` (instruments installed, one trace per request, the check at the end),
alternating so that machine load hits both alike. Prints the median per-request time of each
and their ratio, paired within rounds. Stops after ``--seconds`` whatever the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.test import AsyncClient  # noqa: E402

from async_audit.budget import AsyncBudget  # noqa: E402


async def _gets(client: AsyncClient, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await client.get("/async/")
    return (time.perf_counter() - started) / n


def _plain(client: AsyncClient, n: int) -> float:
    return asyncio.run(_gets(client, n))


def _budgeted(client: AsyncClient, n: int) -> float:
    with AsyncBudget(hops=15, blocking=0, exact=True):
        return asyncio.run(_gets(client, n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    client = AsyncClient()
    _plain(client, 20)  # warm: imports, the middleware chain
    _budgeted(client, 20)
    deadline = time.monotonic() + args.seconds
    plain: list[float] = []
    budgeted: list[float] = []
    for _ in range(args.rounds):
        if time.monotonic() > deadline:
            break
        plain.append(_plain(client, args.requests))
        budgeted.append(_budgeted(client, args.requests))
    ratios = [b / p for p, b in zip(plain, budgeted, strict=True)]
    print(f"rounds: {len(plain)} x {args.requests} GET /async/ through AsyncClient")
    print(f"plain:     {statistics.median(plain) * 1000:.3f} ms per request (median of rounds)")
    print(f"budgeted:  {statistics.median(budgeted) * 1000:.3f} ms per request")
    print(f"ratio:     {statistics.median(ratios):.2f}x (median of paired rounds)")


if __name__ == "__main__":
    main()
