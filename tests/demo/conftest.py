"""The demo project runs in subprocesses: the test process is configured with tests.settings.

``demo_env`` is the environment every demo subprocess gets (a temporary SQLite file, the
demo's settings); ``demo_server`` is the demo under uvicorn on a free loopback port.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
MANAGE = ROOT / "demo_site" / "manage.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_manage(env: dict[str, str], *args: str, timeout: float = 120.0) -> str:
    """``python demo_site/manage.py *args``; its output, or a failure showing it."""
    proc = subprocess.run(
        [sys.executable, str(MANAGE), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout


@contextlib.contextmanager
def serve(argv: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[str]:
    """Run a server command until it listens on ``port``; yield its base URL; stop it."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60.0
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"{argv[1:4]} exited {proc.returncode}:\n{log.read_text()}")
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), 0.2),
                ):
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"{argv[1:4]} did not listen within 60 s:\n{log.read_text()}")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for demo subprocesses, with a freshly migrated temporary SQLite file."""
    tmp = tmp_path_factory.mktemp("demo")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DEMO_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="demo_site.settings",
        DEMO_SQLITE_PATH=str(tmp / "demo.sqlite3"),
        PYTHONUNBUFFERED="1",
    )
    run_manage(env, "migrate", "--no-input", "-v0")
    return env


@pytest.fixture(scope="session")
def demo_server(
    demo_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The demo under ``uvicorn demo_site.asgi:application``; yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    argv = [
        sys.executable, "-m", "uvicorn", "demo_site.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    with serve(argv, port, demo_env, log) as url:
        yield url
