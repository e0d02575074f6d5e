"""The demo project runs in subprocesses: the test process is configured with tests.settings.

``demo_env`` is the environment every demo subprocess gets (a temporary SQLite file, the
demo's settings); ``demo_server`` is the demo under uvicorn on a free loopback port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT, free_port, serve

__all__ = ["MANAGE", "free_port", "run_manage", "serve"]
MANAGE = ROOT / "demo_site" / "manage.py"


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
        DEMO_TOOLBAR="0",  # the toolbar changes what requests do: its own tests turn it on
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
