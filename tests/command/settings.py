from __future__ import annotations

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.command.project"
ASGI_APPLICATION = "tests.asgi.application"
# The sync-only member outermost drags nobody; the mixin inside it runs async and hops.
MIDDLEWARE = [
    "tests.command.project.SyncOnlyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
]

# A safety net beneath the probes' network guard: should the guard ever regress, the test
# of it must still send nothing off this machine. The test asserts the guard refused first.
import ipaddress as _ipaddress  # noqa: E402
import socket as _socket  # noqa: E402

_real_connect = _socket.socket.connect


def _loopback_only_connect(self: _socket.socket, address: object) -> None:
    if self.family in (_socket.AF_INET, _socket.AF_INET6):
        host = address[0]  # type: ignore[index]
        try:
            ok = _ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise OSError(f"test safety net: refused {host}")
    _real_connect(self, address)  # type: ignore[arg-type]


_socket.socket.connect = _loopback_only_connect  # type: ignore[method-assign]
