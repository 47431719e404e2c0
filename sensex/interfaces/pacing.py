"""A pace for the heavy routes (`/drift`, `/drift/history`, `/explain`, `/market`): at most
`rate` of them start per second in one API process, in arrival order.

Why: kept answers make a heavy request cheap (`serving.answers`), but not free: parsing the
request and sending a few KB still costs the event loop about a millisecond. Dashboards polling
them in tight loops would then take the whole core, and forecasts, `/health` and the worker
computing new forecasts would wait behind them. Paced, a crowd of heavy requests waits on an
asyncio timer (no thread, no CPU) and takes at most its share; a dashboard refreshing every few
seconds never notices.
"""

from __future__ import annotations

import asyncio

HEAVY_RATE = 100.0  # heavy requests started per second, per API process


class Pacer:
    """Slots `1 / rate` seconds apart; `wait` sleeps until the caller's slot. The event loop is
    one thread, so the slots need no lock."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0

    def delay(self, now: float) -> float:
        """Book the next slot at or after `now`; seconds until it."""
        slot = max(now, self._next)
        self._next = slot + self._interval
        return slot - now

    async def wait(self) -> None:
        pause = self.delay(asyncio.get_running_loop().time())
        if pause > 0:
            await asyncio.sleep(pause)
