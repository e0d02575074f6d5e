"""A slow HTTP upstream on loopback, started by the demo itself.

The views call it instead of a real API so the demo needs no network and no second process.
``base_url()`` starts a ``ThreadingHTTPServer`` on an ephemeral 127.0.0.1 port in a daemon
thread the first time it is called in a process and returns the same URL afterwards.

Endpoints (GET only, JSON answers):

- ``/slow/<ms>/<name>``: sleeps ``ms`` milliseconds, then answers
  ``{"name": name, "ms": ms, "value": <a number derived from name>}``.
- ``/health``: answers at once.

The server is per process on purpose: ``runserver``'s autoreloader runs the project in a
child process, uvicorn's ``--workers`` in several, and each needs an upstream it can reach
without coordination. A process that forks after starting it (a pre-fork server) gets a new
one, because the listening thread does not survive ``fork``.
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["MAX_DELAY_MS", "base_url", "shutdown"]

MAX_DELAY_MS = 10_000


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # listen() backlog: the default 5 drops connections when a load test fans out.
    request_queue_size = 256

    def server_bind(self) -> None:
        # HTTPServer.server_bind() also resolves the host name (socket.getfqdn), a DNS
        # lookup that can take seconds, and may run on the event loop when an async view
        # is the first to call base_url(). The handlers never use the name.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])


_lock = threading.Lock()
_server: _Server | None = None
_server_pid: int | None = None


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so clients can keep the connection alive between calls, as real APIs allow.
    protocol_version = "HTTP/1.1"
    server_version = "DemoUpstream/1"
    # Headers and body go out in two writes; with Nagle on, the body then waits for the
    # client's delayed ACK (~40 ms on Linux) and every call looks that much slower.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if parts == ["health"]:
            self._answer(200, {"ok": True})
        elif len(parts) == 3 and parts[0] == "slow" and parts[1].isdigit():
            ms = min(int(parts[1]), MAX_DELAY_MS)
            time.sleep(ms / 1000.0)
            value = zlib.crc32(parts[2].encode()) % 10_000 / 100
            self._answer(200, {"name": parts[2], "ms": ms, "value": value})
        else:
            self._answer(404, {"error": "try /slow/<ms>/<name>"})

    def _answer(self, status: int, payload: dict[str, object]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the demo server's own log is what the user watches


def base_url() -> str:
    """``http://127.0.0.1:<port>`` of this process's upstream, started on first use.

    ``DEMO_UPSTREAM_URL`` points the views at an upstream in another process instead
    (``bench/capacity_validation.py``: then its threads do not share the server's GIL).
    """
    global _server, _server_pid
    external = os.environ.get("DEMO_UPSTREAM_URL")
    if external:
        return external.rstrip("/")
    # The fast path reads two globals without the lock: both are set together under it, and
    # a stale read only sends us into the locked path below.
    server = _server
    if server is not None and _server_pid == os.getpid():
        return _url(server)
    with _lock:
        if _server is None or _server_pid != os.getpid():
            server = _Server(("127.0.0.1", 0), _Handler)
            thread = threading.Thread(
                target=server.serve_forever, name="demo-upstream", daemon=True
            )
            thread.start()
            _server, _server_pid = server, os.getpid()
        return _url(_server)


def shutdown() -> None:
    """Stop this process's upstream (tests); the next ``base_url()`` starts a new one."""
    global _server, _server_pid
    with _lock:
        if _server is not None and _server_pid == os.getpid():
            _server.shutdown()
            _server.server_close()
        _server, _server_pid = None, None


def _url(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"
