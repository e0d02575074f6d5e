from __future__ import annotations

import asyncio
from time import sleep as sleep_bound_before_install  # invisible to the patches

import pytest

from async_audit.trace import traced

pytestmark = pytest.mark.usefixtures("installed")


def test_a_stall_the_patches_cannot_see_is_caught_by_the_watchdog_with_its_stack():
    async def stall() -> None:
        await asyncio.sleep(0.03)  # let the heartbeat start
        sleep_bound_before_install(0.2)

    async def main():
        with traced() as trace:
            await stall()
            await asyncio.sleep(0.03)  # let the next heartbeat close the stall
        return trace

    trace = asyncio.run(main())
    assert trace.blocking_calls == []
    (lag,) = trace.loop_lags
    assert lag.duration >= 0.1
    assert lag.site is not None and lag.site[0] == __file__ and lag.site[2] == "stall"


def test_a_stall_is_attributed_to_the_request_that_caused_it():
    async def request(n: int, stall: bool):
        with traced() as trace:
            await asyncio.sleep(0.03)
            if stall:
                sleep_bound_before_install(0.15)
            await asyncio.sleep(0.05)
        return n, trace

    async def main():
        return await asyncio.gather(*(request(n, n == 3) for n in range(6)))

    for n, trace in asyncio.run(main()):
        assert len(trace.loop_lags) == (1 if n == 3 else 0), n
