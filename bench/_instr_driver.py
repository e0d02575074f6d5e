"""One process of the instruction-count benchmark: N requests through an in-process ASGI driver.

    python bench/_instr_driver.py VARIANT N

Run under ``valgrind --tool=callgrind`` by ``bench/trace_instructions.py``: the difference
between two runs with different N, divided by the difference in N, is the cost of one
request with start-up and warm-up cancelled out.

Variants: ``noapp`` (the project without async_audit), ``installed`` (the app in
INSTALLED_APPS, nothing else), ``idle`` (instruments installed, nothing traced),
``traced`` (every request traced by ``TracedASGIApp`` and exported with ``to_dict()``).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    variant, n = sys.argv[1], int(sys.argv[2])
    os.environ["DJANGO_SETTINGS_MODULE"] = (
        "bench.settings_instr_noapp" if variant == "noapp" else "bench.settings_instr"
    )
    import django

    django.setup()
    from django.core.asgi import get_asgi_application

    from async_audit.asgi_client import asgi_request

    app: Any = get_asgi_application()
    if variant in ("idle", "traced"):
        from async_audit import instruments

        instruments.install()
    if variant == "traced":
        from async_audit.trace.asgi import TracedASGIApp

        export = os.environ.get("AB_NOEXPORT") is None  # traced-noexport in the runner
        app = TracedASGIApp(app, lambda trace: trace.to_dict() if export else None)

    async def run() -> None:
        for _ in range(50):  # warm-up: imports, caches, the thread pool
            await asgi_request(app, "/async/")
        gc.collect()
        gc.freeze()
        for _ in range(n):
            await asgi_request(app, "/async/")

    asyncio.run(run())


if __name__ == "__main__":
    main()
