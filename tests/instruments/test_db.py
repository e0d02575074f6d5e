from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections

from async_audit.trace import traced

pytestmark = pytest.mark.usefixtures("installed")


@pytest.mark.django_db
def test_orm_queries_are_recorded_with_fingerprint_alias_and_no_parameters():
    with traced() as trace:
        User.objects.filter(username="alice-secret").exists()
        User.objects.create(username="bob-secret")
    queries = trace.queries
    assert len(queries) >= 2
    assert all(q.alias == "default" and q.vendor == "sqlite" for q in queries)
    assert not any("secret" in q.sql for q in queries)  # parameters are never recorded
    select = trace.to_dict()["events"][0]
    assert select["fingerprint"].startswith(
        'SELECT ? AS "a" FROM "auth_user" WHERE "auth_user"."username" = ?'
    )
    assert all(not q.on_loop for q in queries)


@pytest.mark.django_db
def test_a_failing_query_is_recorded_and_the_error_reaches_the_caller():
    with (
        traced() as trace,
        pytest.raises(Exception) as excinfo,
        connections["default"].cursor() as cursor,
    ):
        cursor.execute("SELECT * FROM no_such_table")
    (query,) = trace.queries
    assert query.error == type(excinfo.value).__name__


@pytest.mark.django_db
def test_untraced_queries_record_nothing():
    User.objects.count()  # no trace active: must simply work


@pytest.mark.django_db(transaction=True)
def test_orm_async_methods_record_the_query_in_the_hop_thread():
    async def main():
        with traced() as trace:
            await User.objects.acount()
        return trace

    trace = asyncio.run(main())
    (query,) = trace.queries
    (hop,) = trace.hops
    assert query.thread == hop.run_thread
    assert hop.start <= query.start <= query.end <= hop.end


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "pg"], transaction=True)
def test_postgres_queries_from_concurrent_requests_are_attributed_to_each():
    def query(n: int) -> None:
        with connections["pg"].cursor() as cursor:
            cursor.execute(f"SELECT {n}, pg_sleep(0.01)")
        connections["pg"].close()

    async def request(n: int):
        with traced() as trace:
            await sync_to_async(query, thread_sensitive=False)(n)
            await asyncio.to_thread(query, n + 500)
        return n, trace

    async def main():
        return await asyncio.gather(*(request(n) for n in range(1, 16)))

    for n, trace in asyncio.run(main()):
        assert sorted(q.sql for q in trace.queries) == sorted(
            [f"SELECT {n}, pg_sleep(0.01)", f"SELECT {n + 500}, pg_sleep(0.01)"]
        )
        assert all(q.vendor == "postgresql" and q.alias == "pg" for q in trace.queries)
        assert all(q.duration >= 0.01 for q in trace.queries)
        assert trace.to_dict()["events"][-1]["fingerprint"] == "SELECT ?, pg_sleep(?)"
