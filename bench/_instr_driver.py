"""One process of the instruction-count benchmark: N requests through an in-process ASGI driver.

    python bench/_instr_driver.py VARIANT N

Run under ``valgrind --tool=callgrind`` by ``bench/trace_instructions.py``: the difference
between two runs with different N, divided by the difference in N, is the cost of one
request with start-up and warm-up cancelled out.

Variants: ``noapp`` (the project without async_audit), ``installed`` (the app in
INSTALLED_APPS, nothing else), ``rate<R>`` (the sampling middleware at SAMPLE_RATE R; see
``bench/settings_instr.py``), ``idle`` (instruments installed, nothing traced),
``traced`` (every request traced by ``TracedASGIApp`` and exported with ``to_dict()`` on
the request path). With ``AA_INSTR_REPORT`` set, the number of requests the sampling
middleware sampled after the warm-up, and of samples dropped, is written to that file.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WARMUP = 50


def main() -> None:
    variant, n = sys.argv[1], int(sys.argv[2])
    os.environ["AA_INSTR_VARIANT"] = variant
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_instr"
    import django

    django.setup()
    from django.core.asgi import get_asgi_application

    from async_audit.asgi_client import asgi_request
    from async_audit.sampling.writer import current_writer

    app: Any = get_asgi_application()
    if variant in ("idle", "traced"):
        from async_audit import instruments

        instruments.install()
    if variant == "traced":
        from async_audit.trace.asgi import TracedASGIApp

        export = os.environ.get("AB_NOEXPORT") is None  # traced-noexport in the runner
        app = TracedASGIApp(app, lambda trace: trace.to_dict() if export else None)

    # Same draws in every run: the runs with N and 2N requests sample the same first N.
    random.seed(0)
    first: list[tuple[bytes, bytes]] = []
    if variant.startswith("rate") and float(variant.removeprefix("rate")) > 0:
        # The first request is a forced sample, as in a server that has sampled once: the
        # writer thread and the loop watchdog's heartbeat exist before anything is counted.
        # (At rate 0 the instruments wait for a forced sample: not there.)
        from async_audit.sampling.decide import FORCE_HEADER, force_token

        first = [(FORCE_HEADER.lower().encode(), force_token("/async/").encode())]

    async def run() -> int:
        await asgi_request(app, "/async/", headers=first)
        for _ in range(WARMUP):  # imports, caches, the thread pool
            await asgi_request(app, "/async/")
        gc.collect()
        gc.freeze()
        writer = current_writer()
        before = 0 if writer is None else writer.sampled
        for _ in range(n):
            await asgi_request(app, "/async/")
        return (0 if writer is None else writer.sampled) - before

    sampled = asyncio.run(run())
    writer = current_writer()
    dropped = 0
    if writer is not None:
        # What the writer thread has not written yet, written here: at exit it would have
        # 5 seconds, and under valgrind that cuts the last batches off.
        writer.flush()
        dropped = sum(n for reason, n in writer.dropped.items() if reason != "no_sink")
    report = os.environ.get("AA_INSTR_REPORT")
    if report:
        Path(report).write_text(f"{sampled} {dropped}\n")


if __name__ == "__main__":
    main()
