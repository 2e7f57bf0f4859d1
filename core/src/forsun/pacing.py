"""Long jobs on the event loop in slices, so that firing keeps its second.

A bulk creation of 100 000 plans is over a second of Python work (decoding, validating,
storing, answering). Done in one go it holds the event loop that long, and every firing due
meanwhile is as late. Such a job runs instead as a :meth:`Pacer.job`: it calls
:meth:`Job.pause` between small steps, and once it has run for :data:`SLICE_SECONDS` the
pause gives the loop a turn, in which the engine's timers, firings and every other request
are served. However many jobs run at once, one slice runs per turn of the loop: the jobs
take turns in the pacer's lane. The engine also :meth:`Pacer.hold`-s the jobs from just
before a second boundary until that second's firings have ended (at most 0.25 s), so that a
firing waits for no slice at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from itertools import islice
from typing import TypeVar

T = TypeVar("T")

#: Work between two turns of the loop. Measured with four 16 MiB bulk creations at once
#: (bench machine, in process): 2 ms slices cost 2-4 % more CPU per plan than 5 ms ones
#: and delay the rest of the loop's work by ~6 ms (p50) instead of ~15 ms; 10 ms slices
#: save ~2 % and delay it by ~30 ms. Firings wait for no slice (the engine's hold), as long
#: as a slice or two end within the engine's ``BOUNDARY_HOLD`` (20 ms).
SLICE_SECONDS = 0.005
#: Items a job handles between two calls of :meth:`Job.pause` (~0.5-2 ms of work each).
STEP = 256


class Pacer:
    """The lane the long jobs of one service take turns in."""

    def __init__(self, slice_seconds: float = SLICE_SECONDS) -> None:
        self.slice_seconds = slice_seconds
        self._lane = asyncio.Lock()
        self._waiting = 0  # jobs queued for the lane
        self._holds = 0
        self._clear = asyncio.Event()  # set while nothing holds the jobs
        self._clear.set()

    @property
    def held(self) -> bool:
        """Whether a :meth:`hold` holds the jobs now."""
        return bool(self._holds)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """No job starts a slice while this block runs (a job stops at its next pause)."""
        self._holds += 1
        self._clear.clear()
        try:
            yield
        finally:
            self._holds -= 1
            if not self._holds:
                self._clear.set()

    @contextlib.asynccontextmanager
    async def job(self) -> AsyncIterator[Job]:
        """Run one job: wait for the lane (a running slice of another job ends first) and
        hold it, but for the pauses, until the block ends."""
        job = Job(self)
        await job._resume()
        try:
            yield job
        finally:
            job._leave()


class Job:
    """One job in a :class:`Pacer`'s lane."""

    def __init__(self, pacer: Pacer) -> None:
        self._pacer = pacer
        self._holding = False
        self._began = 0.0

    async def pause(self) -> None:
        """Once this slice has run its time, let the loop turn, and the next waiting job
        (if any) run a slice in that turn while this one queues behind the others."""
        pacer = self._pacer
        if pacer._clear.is_set() and time.perf_counter() - self._began < pacer.slice_seconds:
            return
        if pacer._waiting:
            # The job woken runs in the next turn of the loop; releasing the lane without
            # such a waiter would let every job that yielded run a slice in the same turn.
            self._leave()
            await self._resume()
        else:
            await asyncio.sleep(0)
            await self._begin()

    async def _resume(self) -> None:
        """Queue for the lane and take it."""
        pacer = self._pacer
        pacer._waiting += 1
        try:
            await pacer._lane.acquire()
        finally:
            pacer._waiting -= 1
        self._holding = True
        await self._begin()

    async def _begin(self) -> None:
        await self._pacer._clear.wait()
        self._began = time.perf_counter()

    def _leave(self) -> None:
        if self._holding:
            self._holding = False
            self._pacer._lane.release()


def steps(items: Iterable[T], size: int = STEP) -> Iterator[Sequence[T]]:
    """``items`` in consecutive lists of ``size`` (the last may be shorter)."""
    source = iter(items)
    while part := list(islice(source, size)):
        yield part
