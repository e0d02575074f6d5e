"""Shared fixtures: instruments, a loopback upstream HTTP server, a real uvicorn server."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from async_audit import instruments

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def installed() -> Iterator[None]:
    """Instruments installed for one test, and removed after it whatever happens."""
    instruments.install()
    try:
        yield
    finally:
        instruments.uninstall()


class _Upstream(BaseHTTPRequestHandler):
    """``/echo/<anything>`` answers at once; ``/slow/<ms>/<anything>`` after ``ms``."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if parts[0] == "slow" and len(parts) > 1:
            time.sleep(int(parts[1]) / 1000.0)
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def upstream() -> Iterator[str]:
    """Base URL of a threaded HTTP server on loopback."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    server.request_queue_size = 512
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(
    argv: list[str], port: int, env: dict[str, str], log: Path, timeout: float = 60.0
) -> Iterator[str]:
    """Run a server command until it listens on ``port``; yield its base URL; stop it."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"{argv[1:4]} exited {proc.returncode}:\n{log.read_text()}")
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), 0.2),
                ):
                    break
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{argv[1:4]} did not listen within {timeout} s:\n{log.read_text()}"
                    )
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                # A graceful stop, as a process manager gives one: workers flush their
                # samples at exit (each writer bounded at 5 s). Killing the supervisor
                # after 10 s on a loaded CI machine left its workers flushing while the test
                # read the database: 200 rows stored, counters at 184.
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def run_uvicorn(app: str, env: dict[str, str]) -> Iterator[str]:
    """``uvicorn app`` in a subprocess on a free loopback port; yields its base URL."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--timeout-keep-alive", "30"]  # fmt: skip
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    with serve(argv, port, full_env, ROOT / ".pytest_cache" / f"uvicorn-{port}.log") as url:
        yield url


def _postgres_reachable() -> bool:
    with (
        contextlib.suppress(OSError),
        socket.create_connection(
            (os.environ.get("PGHOST", "127.0.0.1"), int(os.environ.get("PGPORT", "5432"))), 1.0
        ),
    ):
        return True
    return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and not _postgres_reachable():
        message = "PostgreSQL is not reachable on 127.0.0.1:5432"
        if IN_CI:
            pytest.fail(f"{message}: CI runs the PostgreSQL tests for real", pytrace=False)
        pytest.skip(f"{message} (a failure under CI=true)")


(ROOT / ".pytest_cache").mkdir(exist_ok=True)


@pytest.fixture(autouse=True)
def _instruments_left_as_found() -> Iterator[None]:
    """A test that installs the instruments (a probe run, a panel) must not leave them on for
    the next: tests that patch asgiref beneath them would count every hop twice."""
    before = instruments.installed()
    yield
    if instruments.installed() and not before:
        instruments.uninstall()


def pytest_configure(config: pytest.Config) -> None:
    # An install of the package registers the async budget plugin through its pytest11 entry
    # point; a checkout run from a venv without it registers it here (once, never twice).
    from async_audit import pytest_plugin

    if not config.pluginmanager.is_registered(pytest_plugin):
        config.pluginmanager.register(pytest_plugin, "async_audit")
