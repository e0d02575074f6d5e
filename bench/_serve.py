"""Servers on loopback for the benchmarks: a free port, and a command run until it listens."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    argv: Sequence[str], port: int, env: Mapping[str, str], what: str, **popen: Any
) -> Iterator[int]:
    """Run ``argv`` (from the repository's root) until it listens on ``port``; yield its pid;
    stop it (SIGTERM, then SIGKILL after 15 s). Exits the benchmark if it does not start."""
    proc = subprocess.Popen(list(argv), cwd=ROOT, env=dict(env), **popen)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{what} exited {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{what} did not listen within 60 s") from None
                time.sleep(0.1)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def uvicorn_demo(port: int, *extra: str) -> list[str]:
    """The demo's ASGI application under uvicorn on ``port``."""
    return [sys.executable, "-m", "uvicorn", "demo_site.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning", *extra]  # fmt: skip
