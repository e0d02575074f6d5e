"""Blocking calls made on the event loop thread: recorded with their stack, never raised.

Our own patch set rather than blockbuster's: blockbuster can only raise, and re-wrapping its
functions to record instead doubles the patching. Like blockbuster we only look at calls on
a thread with a running loop, and skip sockets in non-blocking mode (asyncio's own I/O).
What patches cannot see (names bound before install, I/O inside C extensions such as libpq,
``threading.Lock.acquire``) is left to the loop-lag watchdog.
"""

from __future__ import annotations

import _socket
import asyncio
import builtins
import concurrent.futures
import contextlib
import functools
import io
import os
import queue
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from typing import Any

from async_audit.instruments._patch import Patches
from async_audit.trace import core
from async_audit.trace.core import _current, instrument_error
from async_audit.trace.events import BlockingCall
from async_audit.trace.stack import blocking_site, capture_stack

__all__ = ["TARGETS", "install", "uninstall"]

_perf = time.perf_counter
_get_loop = asyncio._get_running_loop


class _Local(threading.local):
    busy = False  # inside a recorded call on this thread


_local = _Local()
_min_seconds = 0.0
# Waits that often return at once (a set Event, a done Future): only worth a record when
# they really waited.
_WAIT_MIN_SECONDS = 0.001

_SOCKET_METHODS = (
    "connect", "connect_ex", "accept", "recv", "recv_into", "recvfrom", "recvfrom_into",
    "send", "sendall", "sendto", "sendfile",
)  # fmt: skip
_SSL_METHODS = ("read", "write", "recv", "recv_into", "send", "sendall", "do_handshake")

# (owner, attribute, call name, category, is a socket method)
TARGETS: list[tuple[Any, str, str, str, bool]] = [
    (time, "sleep", "time.sleep", "sleep", False),
    *[(socket.socket, m, f"socket.{m}", "socket", True) for m in _SOCKET_METHODS],
    *[(ssl.SSLSocket, m, f"ssl.{m}", "socket", True) for m in _SSL_METHODS],
    *[
        (socket, m, f"socket.{m}", "dns", False)
        for m in (
            "getaddrinfo",
            "gethostbyname",
            "gethostbyname_ex",
            "gethostbyaddr",
            "getnameinfo",
        )
    ],
    (builtins, "open", "open", "file", False),
    (io, "open", "io.open", "file", False),
    (os, "listdir", "os.listdir", "file", False),
    (os, "scandir", "os.scandir", "file", False),
    (sqlite3, "connect", "sqlite3.connect", "sqlite", False),
    (os, "system", "os.system", "subprocess", False),
    *[
        (subprocess, m, f"subprocess.{m}", "subprocess", False)
        for m in ("run", "call", "check_call", "check_output")
    ],
    (subprocess.Popen, "wait", "subprocess.Popen.wait", "subprocess", False),
    (subprocess.Popen, "communicate", "subprocess.Popen.communicate", "subprocess", False),
    (threading.Event, "wait", "threading.Event.wait", "lock", False),
    (threading.Condition, "wait", "threading.Condition.wait", "lock", False),
    (threading.Semaphore, "acquire", "threading.Semaphore.acquire", "lock", False),
    (threading.Thread, "join", "threading.Thread.join", "lock", False),
    # Waits for the new thread to run: asgiref starts one per ASGI request for sync code.
    (threading.Thread, "start", "threading.Thread.start", "thread", False),
    (queue.Queue, "get", "queue.Queue.get", "lock", False),
    (concurrent.futures.Future, "result", "concurrent.futures.Future.result", "lock", False),
]


def _cannot_wait(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """A wait that returns at once: called in its non-waiting form (``acquire(False)``,
    ``get(block=False)``, ``wait(0)``, ``result(timeout=0)``), or on something already
    done (a finished future, a set event, a dead thread). Its duration, if any, is GIL
    contention, not blocking: asyncio itself calls ``result()`` on done futures.

    It runs on every traced wait (asgiref's executor calls ``acquire(timeout=0)`` at each
    hop), so the keyword form, the commonest, is looked at first and nothing is allocated.
    """
    if kwargs:
        for key in ("timeout", "blocking", "block"):
            v = kwargs.get(key, True)
            if v is False or ((type(v) is int or type(v) is float) and v == 0):
                return True
    if not args:
        return False
    if len(args) > 1:
        for v in args[1:]:
            if v is False or ((type(v) is int or type(v) is float) and v == 0):
                return True
    target = args[0]
    if isinstance(target, concurrent.futures.Future):
        return target.done()
    if isinstance(target, threading.Event):
        return target.is_set()
    if isinstance(target, threading.Thread):
        return not target.is_alive()
    return False


def _make(call: str, category: str, is_socket: bool) -> Any:
    floor = _WAIT_MIN_SECONDS if category in ("lock", "thread") else 0.0
    is_wait = category == "lock"

    def make(original: Any) -> Any:
        @functools.wraps(original)
        def blocking(*args: Any, **kwargs: Any) -> Any:
            trace = _current.get()
            if trace is None or _get_loop() is None or _local.busy:
                return original(*args, **kwargs)
            if is_wait:
                # ``acquire(timeout=0)``, asgiref's executor at every hop: no call needed.
                v = kwargs.get("timeout", 1) if kwargs else 1
                if ((type(v) is int or type(v) is float) and v == 0) or _cannot_wait(args, kwargs):
                    return original(*args, **kwargs)
            if is_socket:
                try:
                    nonblocking = args[0].gettimeout() == 0.0
                except Exception:
                    nonblocking = False
                if nonblocking:  # asyncio's own I/O
                    return original(*args, **kwargs)
            _local.busy = True  # inner patched calls (ssl -> socket, run -> wait) are one call
            start = _perf()
            try:
                return original(*args, **kwargs)
            finally:
                end = _perf()
                _local.busy = False
                if end - start >= max(floor, _min_seconds):
                    try:
                        stack = capture_stack(sys._getframe(1))
                        trace.add(
                            BlockingCall(
                                start=start,
                                end=end,
                                thread=threading.get_ident(),
                                on_loop=True,
                                call=call,
                                category=category,
                                site=blocking_site(stack),
                                stack=stack,
                            )
                        )
                    except Exception:
                        instrument_error(trace)

        return blocking

    return make


def _fast_semaphore_acquire(make: Any) -> Any:
    """``Semaphore.acquire`` with its own signature in front of the general wrapper.

    The executor calls ``acquire(timeout=0)`` on the loop at every thread hop, traced or
    not: without ``*args``/``**kwargs`` to pack and unpack, passing it on is a plain call.
    """

    def wrap(original: Any) -> Any:
        general = make(original)

        @functools.wraps(original)
        def acquire(self: Any, blocking: bool = True, timeout: float | None = None) -> Any:
            if _current.get() is None or not blocking or timeout == 0:
                return original(self, blocking, timeout)
            return general(self, blocking, timeout)

        return acquire

    return wrap


def _fast_future_result(make: Any) -> Any:
    """``concurrent.futures.Future.result``, likewise: asyncio calls it on the loop, on a
    future already done, at the end of every thread hop."""

    def wrap(original: Any) -> Any:
        general = make(original)

        @functools.wraps(original)
        def result(self: Any, timeout: float | None = None) -> Any:
            if _current.get() is None or self._state == _FINISHED:
                return original(self, timeout)
            return general(self, timeout)

        return result

    return wrap


_FINISHED = concurrent.futures._base.FINISHED
# Waits called on the loop at every hop: a wrapper with their own signature.
_FAST: dict[str, Any] = {
    "threading.Semaphore.acquire": _fast_semaphore_acquire,
    "concurrent.futures.Future.result": _fast_future_result,
}


class _SelfPipe(socket.socket):
    """An asyncio loop's self-pipe, with the socket methods it uses unpatched.

    A loop wakes itself through it whenever another thread hands it work: at the end of
    every thread hop, a ``send`` in the worker and two ``recv`` on the loop, some fifty
    calls per request on Django's default stack. It is non-blocking and asyncio's own, so
    our wrappers would only ever pass those calls on; skipping them saves their cost.
    """

    __slots__ = ()
    recv = _socket.socket.recv
    send = _socket.socket.send


def _quiet_self_pipe() -> None:
    """On a loop thread when a trace starts: give the loop's self-pipe the unpatched class."""
    loop = _get_loop()
    for name in ("_ssock", "_csock"):
        sock = getattr(loop, name, None)
        if type(sock) is socket.socket and sock.gettimeout() == 0.0:
            sock.__class__ = _SelfPipe


def install(patches: Patches, min_ms: float = 0.0) -> None:
    global _min_seconds
    _min_seconds = min_ms / 1000.0
    for owner, attr, call, category, is_socket in TARGETS:
        make = _make(call, category, is_socket)
        fast = _FAST.get(call)
        patches.wrap(owner, attr, make if fast is None else fast(make))
    if _quiet_self_pipe not in core.loop_trace_hooks:
        core.loop_trace_hooks.append(_quiet_self_pipe)


def uninstall() -> None:
    # A self-pipe already quieted keeps its class: the same methods, unwrapped or not.
    with contextlib.suppress(ValueError):
        core.loop_trace_hooks.remove(_quiet_self_pipe)
