from __future__ import annotations

import asyncio

import pytest
from django.core.cache import caches

from async_audit.trace import traced

pytestmark = pytest.mark.usefixtures("installed")


def test_cache_calls_record_backend_operation_and_hit_but_never_the_key():
    cache = caches["default"]
    with traced() as trace:
        cache.set("user:alice-secret", 1)
        cache.get("user:alice-secret")
        cache.get("missing-key")
    assert [(c.backend, c.alias, c.op, c.hit) for c in trace.cache_calls] == [
        ("LocMemCache", "default", "set", None),
        ("LocMemCache", "default", "get", True),
        ("LocMemCache", "default", "get", False),
    ]
    assert "alice-secret" not in str(trace.to_dict())


def test_composed_operations_are_recorded_once():
    cache = caches["default"]
    with traced() as trace:
        cache.get_or_set("k", lambda: 5)
    assert [c.op for c in trace.cache_calls] == ["get_or_set"]


def test_async_cache_call_is_one_event_and_one_hop():
    async def main():
        with traced() as trace:
            await caches["default"].aset("k", 1)
            assert await caches["default"].aget("k") == 1
        return trace

    trace = asyncio.run(main())
    assert [(c.op, c.hit) for c in trace.cache_calls] == [("aset", None), ("aget", True)]
    assert len(trace.hops) == 2


def test_redis_cache_io_is_recorded():
    cache = caches["redis"]
    with traced() as trace:
        cache.set("async-audit-test", "v", 5)
        assert cache.get("async-audit-test") == "v"
        cache.delete("async-audit-test")
    assert [(c.backend, c.op) for c in trace.cache_calls] == [
        ("RedisCache", "set"),
        ("RedisCache", "get"),
        ("RedisCache", "delete"),
    ]
    assert all(c.duration > 0 for c in trace.cache_calls)
