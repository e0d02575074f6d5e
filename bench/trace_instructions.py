"""Instructions per request under callgrind: what tracing every request costs.

    python bench/trace_instructions.py [--variants noapp installed idle traced] [--n 100]

Each variant runs ``bench/_instr_driver.py`` in its own process under ``valgrind
--tool=callgrind``, twice: with ``n`` and ``2n`` requests of a trivial async view through
Django's ASGI handler (Django's default startproject middleware, in-memory SQLite), after
a warm-up and with the heap frozen (``gc.collect(); gc.freeze()``). The difference of the
two totals divided by ``n`` is one request's cost, free of start-up. Figures are printed
as ratios to the first variant, all from one run.

Variants (see the driver): ``noapp``, ``installed``, ``idle`` (instruments installed,
nothing traced), ``traced`` (every request traced by ``TracedASGIApp`` and exported with
``to_dict()`` on the request path), ``traced-noexport`` (the same, not exported).
Counts move by a few tenths of a percent between runs: asgiref's worker threads
interleave differently under valgrind; raise ``--n`` to shrink that.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "bench" / "_instr_driver.py"


def measure(variant: str, n: int) -> int:
    driver_variant, _, option = variant.partition("-")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if option == "noexport":
        env["AB_NOEXPORT"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, str(DRIVER), driver_variant, str(n)],
            cwd=ROOT, check=True, capture_output=True, env=env,
        )  # fmt: skip
        match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
        if match is None:
            raise SystemExit(f"trace_instructions: no callgrind summary for {variant}")
        return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["noapp", "installed", "idle", "traced"])
    parser.add_argument("--n", type=int, default=100, help="requests (and 2n) per variant")
    parser.add_argument(
        "--jobs", type=int, default=1, help="valgrind processes at once (counts do not change)"
    )
    args = parser.parse_args()
    runs = [(variant, n) for variant in args.variants for n in (args.n, 2 * args.n)]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        totals = dict(zip(runs, pool.map(lambda run: measure(*run), runs), strict=True))
    per_request: dict[str, float] = {}
    for variant in args.variants:
        per_request[variant] = (totals[variant, 2 * args.n] - totals[variant, args.n]) / args.n
    base = per_request[args.variants[0]]
    print(f"instructions per request ({args.n} requests, callgrind), against {args.variants[0]}:")
    for variant, ir in per_request.items():
        print(f"  {variant:16} {ir / 1e6:8.3f} M  {100.0 * (ir / base - 1.0):+7.2f}%")


if __name__ == "__main__":
    main()
