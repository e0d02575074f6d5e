"""Instructions per request under callgrind: what the app, its sampling and its tracing cost.

    python bench/trace_instructions.py [--variants noapp installed rate0 rate0.01 rate1]
                                       [--n 50] [--jobs 2] [--keep DIR]

Each variant runs ``bench/_instr_driver.py`` in its own process under ``valgrind
--tool=callgrind``, twice: with ``n`` and ``2n`` requests of a trivial async view through
Django's ASGI handler (Django's default startproject middleware, in-memory SQLite), after
a warm-up and with the heap frozen (``gc.collect(); gc.freeze()``). The difference of the
two totals divided by ``n`` is one request's cost, free of start-up; every thread of the
process is counted, the sampling writer's included. Figures are printed as ratios to the
first variant and to ``installed``, all from one run.

Variants (``bench/settings_instr.py`` and the driver):
  noapp            async_audit not installed
  installed        the app in INSTALLED_APPS, nothing else
  rate<R>          the sampling middleware first, SAMPLE_RATE R (``rate0``, ``rate0.01``,
                   ``rate1``): samples queued, exported by the writer thread and appended to
                   a JSON Lines file; ``rate<R>-nosink`` drops them unexported
  idle             instruments installed, nothing traced
  traced           every request traced by ``TracedASGIApp``, exported on the request path
                   (``traced-noexport``: not exported)
The sampled requests are drawn from a seeded generator, so the n and 2n runs sample the
same first n; how many of the extra n were sampled is printed. The loop watchdog wakes once
a second (its work is per second, not per request, and valgrind's 50-100x slow-down would
multiply it). Counts move by a few tenths of a percent between runs: asgiref's worker
threads interleave differently under valgrind; raise ``--n`` to shrink that.
``--keep DIR`` keeps the callgrind files (``callgrind_annotate --inclusive=yes FILE``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "bench" / "_instr_driver.py"
DEFAULT_VARIANTS = ["noapp", "installed", "rate0", "rate0.01", "rate1"]


def measure(variant: str, n: int, keep: Path | None) -> tuple[int, int | None]:
    """(total instructions, requests sampled after the warm-up) of one process."""
    driver_variant, _, option = variant.partition("-")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if option == "noexport":
        env["AB_NOEXPORT"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        report = Path(tmp) / "sampled"
        env["AA_INSTR_REPORT"] = str(report)
        env["AA_INSTR_SAMPLE_FILE"] = "" if option == "nosink" else str(Path(tmp) / "samples")
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, str(DRIVER), driver_variant, str(n)],
            cwd=ROOT, check=True, capture_output=True, env=env,
        )  # fmt: skip
        text = out.read_text()
        if keep is not None:
            shutil.copy(out, keep / f"{variant}-{n}.out")
        match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        if match is None:
            raise SystemExit(f"trace_instructions: no callgrind summary for {variant}")
        sampled = None
        if variant.startswith("rate"):
            sampled_text, dropped = report.read_text().split()
            if int(dropped):
                raise SystemExit(f"trace_instructions: {variant} dropped {dropped} samples")
            sampled = int(sampled_text)
        return int(match.group(1)), sampled


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS)
    parser.add_argument("--n", type=int, default=50, help="requests (and 2n) per variant")
    parser.add_argument(
        "--jobs", type=int, default=1, help="valgrind processes at once (counts do not change)"
    )
    parser.add_argument("--keep", type=Path, help="folder to keep the callgrind files in")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    runs = [(variant, n) for variant in args.variants for n in (args.n, 2 * args.n)]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda run: measure(*run, args.keep), runs))
    totals = dict(zip(runs, results, strict=True))
    per_request: dict[str, float] = {}
    notes: dict[str, str] = {}
    for variant in args.variants:
        small, sampled_n = totals[variant, args.n]
        large, sampled_2n = totals[variant, 2 * args.n]
        per_request[variant] = (large - small) / args.n
        if sampled_n is not None and sampled_2n is not None:
            notes[variant] = f"{sampled_2n - sampled_n} of the {args.n} extra requests sampled"
    base = per_request[args.variants[0]]
    installed = per_request.get("installed")
    print(
        f"instructions per request (n = {args.n}: (2n total - n total) / n, callgrind, "
        f"every thread), against {args.variants[0]}"
        + (" and installed:" if installed is not None else ":")
    )
    for variant, ir in per_request.items():
        line = f"  {variant:18} {ir / 1e6:8.3f} M  {100.0 * (ir / base - 1.0):+7.2f}%"
        if installed is not None:
            line += f"  {100.0 * (ir / installed - 1.0):+7.2f}%"
        if variant in notes:
            line += f"  ({notes[variant]})"
        print(line)


if __name__ == "__main__":
    main()
