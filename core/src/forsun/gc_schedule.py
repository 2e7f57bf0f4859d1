"""Full garbage collections at moments forsund chooses, not in the middle of a busy second.

CPython's cyclic collector runs a full collection whenever enough objects survived younger
collections, and a full collection traverses every tracked container: the mem store's
sorted sublists hold a reference per plan, so with 10^6 plans created since start-up one
takes ~30 ms, stalling every firing of the second it falls into. :class:`Collector`
freezes what exists at start-up (modules, the store as loaded: never traversed again),
turns the automatic full collections off and runs one every ``interval`` seconds in the
middle of a second, when no firing is due. Young generations stay automatic, except
while the engine holds them off (:func:`pause_young`): from a second boundary until its
firings have ended, so that collections do not traverse the live tasks of a burst again
and again (at 1 667 firings a boundary, ~45 young and ~4 middle collections took ~15 ms of
the ~100 ms the burst took).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

from .tasks import cancel

log = logging.getLogger(__name__)

#: A generation-2 threshold that is never reached: full collections only by :class:`Collector`.
NEVER = 2**31 - 1
#: Where in a second a scheduled collection runs: half a second from either boundary.
MID_SECOND = 0.5


class Collector:
    """Owns the process's full collections while started (``interval`` 0: freeze only)."""

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.time) -> None:
        self.interval = interval
        self.clock = clock
        self.collections = 0
        self.last_pause = 0.0
        self._thresholds: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        gc.freeze()
        if self.interval <= 0:
            return
        self._thresholds = gc.get_threshold()
        young, middle, _ = self._thresholds
        gc.set_threshold(young, middle, NEVER)
        self._task = asyncio.create_task(self._run(), name="forsun-gc")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def delay(self) -> float:
        """Seconds from now to the middle of a second at least ``interval`` away."""
        now = self.clock()
        target = now + self.interval
        return target - now + (MID_SECOND - target % 1.0) % 1.0

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.delay())
            started = time.perf_counter()
            found = gc.collect()
            self.last_pause = time.perf_counter() - started
            self.collections += 1
            log.debug("full collection: %d unreachable, %.1f ms", found, self.last_pause * 1000)


_young_pauses = 0
_enabled_before = True


def pause_young() -> None:
    """No automatic collection until the matching :func:`resume_young` (pauses nest; the
    scheduled full collections still run)."""
    global _young_pauses, _enabled_before
    if not _young_pauses:
        _enabled_before = gc.isenabled()
        gc.disable()
    _young_pauses += 1


def resume_young() -> None:
    """End one :func:`pause_young`; the last one restores automatic collections."""
    global _young_pauses
    _young_pauses -= 1
    if not _young_pauses and _enabled_before:
        gc.enable()
