"""Virtual time for tests of the engine and the service (:class:`forsun.clock.Clock`).

A :class:`VirtualClock` stands still until the test moves it: :meth:`VirtualClock.sleep`
registers a waiter, and :meth:`~VirtualClock.advance`, :meth:`~VirtualClock.wait_for` and
:meth:`~VirtualClock.drive` move time from waiter to waiter, in order, letting the event
loop run until it is idle after each wake-up. So a test of a second-long schedule takes
milliseconds, and no result depends on how loaded the machine is::

    clock = VirtualClock()
    service = Service(options, pm, clock=clock)   # the store: store.clock = clock.now
    await service.start()
    plan = await service.create(...)
    await clock.wait_for(lambda: fired, timeout=5)  # virtual seconds

Only for code that waits on nothing but this clock and other tasks: no sockets, threads or
subprocesses (time would jump while they work), no ``asyncio.sleep`` with a delay.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..clock import Clock

T = TypeVar("T")

#: Wall time at which a :class:`VirtualClock` starts by default (2027-01-15 08:00:00.25
#: UTC): a quarter past a second, as a service started at a random moment would see it.
START = 1_800_000_000.25
#: Loop iterations :meth:`VirtualClock.settle` allows before it calls the loop busy.
MAX_SETTLE_ROUNDS = 100_000


class VirtualClock(Clock):
    """A clock that moves only when the test moves it (see the module docstring).

    :meth:`now` is virtual wall time and :meth:`monotonic` virtual monotonic time; both
    advance together, and :meth:`step` moves the wall clock alone, as NTP would.
    """

    def __init__(self, start: float = START) -> None:
        self._elapsed = 0.0
        self._wall = start
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._wall + self._elapsed

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (self._elapsed + seconds, next(self._order), waiter))
        await waiter

    def step(self, seconds: float) -> None:
        """Step the wall clock by ``seconds`` (negative: back); sleeps are not affected."""
        self._wall += seconds

    async def settle(self) -> None:
        """Return once every task is waiting (for this clock or for another task)."""
        ready = asyncio.get_running_loop()._ready  # type: ignore[attr-defined]
        for _ in range(MAX_SETTLE_ROUNDS):
            await asyncio.sleep(0)
            if not ready:
                return
        raise RuntimeError(f"the event loop was still busy after {MAX_SETTLE_ROUNDS} rounds")

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass, waking each waiter at its time."""
        end = self._elapsed + seconds
        await self.settle()
        while self._wake_next(end):
            await self.settle()
        self._elapsed = max(self._elapsed, end)
        await self.settle()

    async def wait_for(self, predicate: Callable[[], object], timeout: float) -> None:
        """Let time pass until ``predicate()`` is true; AssertionError after ``timeout``
        virtual seconds."""
        end = self._elapsed + timeout
        await self.settle()
        while not predicate():
            if not self._wake_next(end):
                raise AssertionError(f"condition not met within {timeout:g} virtual seconds")
            await self.settle()

    async def drive(self, awaitable: Awaitable[T], timeout: float = 3600.0) -> T:
        """Await ``awaitable`` while letting time pass (e.g. a ``stop()`` that waits for
        running actions); AssertionError after ``timeout`` virtual seconds."""
        task = asyncio.ensure_future(awaitable)
        try:
            await self.wait_for(task.done, timeout)
        finally:
            if not task.done():
                task.cancel()
        return task.result()

    def _wake_next(self, end: float) -> bool:
        """Move time to the earliest waiter due by ``end`` and wake every waiter due then;
        False if there is none."""
        while self._waiters and self._waiters[0][2].done():  # cancelled sleeps
            heapq.heappop(self._waiters)
        if not self._waiters or self._waiters[0][0] > end:
            return False
        when = self._waiters[0][0]
        self._elapsed = max(self._elapsed, when)
        while self._waiters and self._waiters[0][0] <= when:
            waiter = heapq.heappop(self._waiters)[2]
            if not waiter.done():
                waiter.set_result(None)
        return True
