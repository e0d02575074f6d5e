from __future__ import annotations

import asyncio
import builtins
import http.client
import socket
import time

import pytest
from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.db.backends.signals import connection_created

from async_audit import instruments
from async_audit.instruments._patch import ORIGINAL
from async_audit.trace import instrument_errors, traced
from async_audit.trace.core import Trace

PATCHED = [
    (SyncToAsync, "thread_handler"),
    (SyncToAsync, "deadlock_context"),
    (AsyncToSync, "__call__"),
    (time, "sleep"),
    (builtins, "open"),
    (socket.socket, "recv"),
    (http.client.HTTPConnection, "getresponse"),
    (LocMemCache, "get"),
]


def _snapshot():
    return {(owner, name): owner.__dict__.get(name) for owner, name in PATCHED}


def test_installing_twice_records_once():
    try:
        assert instruments.install() is True
        assert instruments.install() is False

        async def main():
            with traced() as trace:
                await sync_to_async(lambda: None)()
            return trace

        assert len(asyncio.run(main()).hops) == 1
    finally:
        instruments.uninstall()


@pytest.mark.django_db
def test_uninstalling_leaves_no_patch_behind():
    before = _snapshot()
    receivers_before = len(connection_created.receivers)
    instruments.install()
    assert all(hasattr(getattr(owner, name), ORIGINAL) for owner, name in PATCHED)
    connection.ensure_connection()
    instruments.uninstall()
    assert _snapshot() == before
    assert not any(hasattr(getattr(owner, name), ORIGINAL) for owner, name in PATCHED)
    assert len(connection_created.receivers) == receivers_before
    assert connection.execute_wrappers == []
    assert instruments.uninstall() is False


def test_an_error_inside_an_instrument_is_counted_and_never_reaches_the_host(monkeypatch):
    def broken_add(self, event):
        raise RuntimeError("instrument bug")

    monkeypatch.setattr(Trace, "add", broken_add)
    before = instrument_errors()
    instruments.install()
    try:

        async def main():
            with traced() as trace:
                assert await sync_to_async(lambda: 41)() == 41
                time.sleep(0)
            return trace

        trace = asyncio.run(main())
    finally:
        instruments.uninstall()
    assert instrument_errors() > before
    assert trace.errors >= 1
