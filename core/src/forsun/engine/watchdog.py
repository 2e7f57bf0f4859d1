"""One shared timer for the deadlines of many concurrent awaits.

``asyncio.timeout`` arms and cancels a timer handle per call: about a fifth of the engine's
time when a burst of short actions fires. A :class:`Watchdog` instead sweeps its slots every
``seconds / 10`` (at most every second) and cancels the task of each slot past its deadline,
so a deadline is enforced up to one interval late. Contract for the slot's task: arm, await,
and on ``CancelledError`` ask :meth:`Watchdog.expired` whether it was the deadline.
Deadlines and sweeps follow the monotonic time of the :class:`~forsun.clock.Clock` given.
"""

from __future__ import annotations

import asyncio
import math

import attrs

from ..clock import WALL_CLOCK, Clock
from ..tasks import cancel


@attrs.define(eq=False, slots=True)
class Slot:
    """One worker task; ``deadline`` is in the clock's monotonic seconds (``math.inf``: not
    running a call)."""

    task: asyncio.Task[None] | None = None
    deadline: float = math.inf
    expired: bool = False


class Watchdog:
    """Cancels the task of a :class:`Slot` whose armed deadline passed."""

    def __init__(self, seconds: float, clock: Clock = WALL_CLOCK) -> None:
        self.seconds = seconds
        self.clock = clock
        self.interval = min(1.0, max(0.01, seconds / 10))
        self.slots: set[Slot] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="forsun-watchdog")

    async def stop(self) -> None:
        await cancel(self._sweeper)
        self._sweeper = None

    def arm(self, slot: Slot) -> None:
        """The slot's call starts now: it must end within ``seconds``."""
        slot.deadline = self.clock.monotonic() + self.seconds

    @classmethod
    def disarm(cls, slot: Slot) -> None:
        """The slot's call ended (a deadline that expired as it ended is withdrawn)."""
        slot.deadline = math.inf
        cls.expired(slot)

    @staticmethod
    def expired(slot: Slot) -> bool:
        """After a ``CancelledError`` in the slot's task: True if the deadline caused it (the
        cancellation is then withdrawn, as ``asyncio.timeout`` does); False if it came from
        elsewhere and must propagate."""
        if not slot.expired:
            return False
        slot.expired = False
        assert slot.task is not None
        slot.task.uncancel()
        return True

    async def _sweep(self) -> None:
        while True:
            await self.clock.sleep(self.interval)
            now = self.clock.monotonic()
            for slot in self.slots:
                if slot.deadline <= now and not slot.expired and slot.task is not None:
                    slot.expired = True
                    slot.task.cancel()
