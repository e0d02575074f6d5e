"""Instructions per request under callgrind: what the app and the sampling middleware cost.

    python bench/instructions.py [--variants noapp app rate0] [--n 100]

Each variant runs in its own process under ``valgrind --tool=callgrind``, twice: with ``n``
and with ``2n`` requests of a trivial async view through Django's ASGI handler (the default
startproject middleware), in-process, after a warm-up and with the heap frozen
(``gc.collect(); gc.freeze()``). The difference of the two totals divided by ``n`` is the
cost of one request, free of start-up. Instruction counts move by about 0.01% from run to
run where wall clock moves by several percent. Variants are in ``settings_instructions.py``
(``rate0.01`` and ``rate1`` work too).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 100


def child(n: int) -> None:
    import asyncio
    import gc

    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_instructions"
    import django

    django.setup()
    from django.core.handlers.asgi import ASGIHandler

    from async_audit.asgi_client import asgi_request

    app = ASGIHandler()

    async def run(count: int) -> None:
        for _ in range(count):
            response = await asgi_request(app, "/")
            assert response.status == 200, response.status

    asyncio.run(run(WARMUP))
    gc.collect()
    gc.freeze()
    asyncio.run(run(n))


def measure(variant: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, __file__, "--child", str(n)],
            cwd=ROOT, check=True, capture_output=True,
            env={**os.environ, "AA_BENCH_VARIANT": variant, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
        match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
        assert match, "no callgrind summary"
        return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["noapp", "app", "rate0"])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    per_request = {}
    for variant in args.variants:
        per_request[variant] = (measure(variant, 2 * args.n) - measure(variant, args.n)) / args.n
        print(f"  ({variant}: {per_request[variant]:.0f})", file=sys.stderr, flush=True)
    base = per_request[args.variants[0]]
    print(f"instructions per request ({args.n} requests, callgrind), against {args.variants[0]}:")
    for variant, ir in per_request.items():
        print(f"  {variant:10} {ir / 1e6:8.3f} M  {100.0 * (ir / base - 1.0):+7.2f}%")


if __name__ == "__main__":
    main()
