"""The converted twins keep their async budgets: what stops the next sync-only middleware or
blocking call from quietly undoing the conversion.

Each async twin of ``PAIRS`` is pinned at its real count (``exact=True``, as
``django_assert_num_queries`` pins queries). Through this chain an async view costs 8 hops:
request_started's receivers and ``response.close`` (the handler's 2), the adapter into the
sync-run outer chain (RequestTimingMiddleware is sync-only and drags the seven startproject
members into sync mode), the ``async_to_sync`` back to the loop below it, RequestIdMiddleware's
two hooks, and the sync ``process_view`` of CsrfViewMiddleware and ViewNameMiddleware.

Fewer hops is not always better: a new sync-only member lower in the chain drags more members
into its thread and the count drops. Pinning the count catches a changed chain either way,
and the failure names the member that forced sync mode.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from demo_site.shop.pairs import PAIRS

HOPS = {"fanout": 8, "slow-call": 8, "cpu": 8, "db": 10}  # db: two ORM a* calls, one hop each
QUERIES = {"fanout": 0, "slow-call": 0, "cpu": 0, "db": 2}


@pytest.mark.django_db
@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p["name"])
def test_async_twin_keeps_its_budget(async_budget, async_client, pair):
    get = async_to_sync(async_client.get)
    get(pair["async"])  # first call: imports and connections are not the view's
    with async_budget(
        hops=HOPS[pair["name"]], queries=QUERIES[pair["name"]], blocking=0, exact=True
    ):
        assert get(pair["async"]).status_code == 200


@pytest.mark.async_budget(hops=8, blocking=0, exact=True)
def test_the_good_async_page_stays_within_eight_hops(async_client):
    assert async_to_sync(async_client.get)("/good/async/").status_code == 200
