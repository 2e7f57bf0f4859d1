"""The time the service and its engine run on: wall-clock readings and sleeps, in one object
so that tests can run the engine on virtual time (:class:`forsun.testing.clock.VirtualClock`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable


class Clock:
    """The real clock. :meth:`now` is wall time (it may step, e.g. under NTP); sleeps and
    :meth:`monotonic` follow the monotonic clock, as asyncio's timers do."""

    def now(self) -> float:
        """Wall time, unix seconds."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds of a clock that never steps (only differences mean anything)."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of monotonic time (0 or less: yield to the loop once)."""
        await asyncio.sleep(seconds)


#: The clock of a service run for real.
WALL_CLOCK = Clock()


async def wait_or_sleep(clock: Clock, awaitable: Awaitable[object], seconds: float) -> bool:
    """Wait for ``awaitable`` at most ``seconds`` of ``clock``'s time: True if it finished
    (an exception it raised propagates), False if the time ran out (it is then cancelled)."""
    waiter = asyncio.ensure_future(awaitable)
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        finished = waiter.done()
        if not finished:
            waiter.cancel()
    if finished:
        waiter.result()
    return finished
