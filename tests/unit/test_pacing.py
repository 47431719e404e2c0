"""The heavy routes' pace (`interfaces.pacing`): slots 1/rate apart, in arrival order, and no
wait for a request that comes after a quiet spell."""

from __future__ import annotations

import asyncio

import pytest

from sensex.interfaces.pacing import Pacer


def test_slots_are_one_interval_apart_in_arrival_order():
    pacer = Pacer(rate=10.0)
    assert pacer.delay(100.0) == 0.0
    assert pacer.delay(100.0) == pytest.approx(0.1)
    assert pacer.delay(100.05) == pytest.approx(0.15)  # booked after the one before it
    # After a quiet spell the next request starts at once; the slots do not pile up as credit.
    assert pacer.delay(200.0) == 0.0
    assert pacer.delay(200.0) == pytest.approx(0.1)


def test_waiting_is_an_asyncio_sleep_that_lets_other_work_run():
    pacer, order = Pacer(rate=50.0), []

    async def heavy(n: int) -> None:
        await pacer.wait()
        order.append(f"heavy {n}")

    async def light() -> None:
        order.append("light")

    async def main() -> None:
        await asyncio.gather(*(heavy(n) for n in range(5)), light())

    asyncio.run(main())
    assert order.index("light") < order.index("heavy 1")  # the light request did not wait behind them
    assert order[0] == "heavy 0" and [o for o in order if o != "light"] == [f"heavy {n}" for n in range(5)]
