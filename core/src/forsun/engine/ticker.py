"""Ticking: processing each second on its wall-clock boundary, and catching up.

- A second S is processed only once the clock has reached it: nothing fires early. Each
  tick sleeps until the next boundary computed from the clock, so there is no drift.
- Processing S claims every occurrence due up to S (in batches of :data:`CLAIM_BATCH`),
  stores each plan's successor and starts the firings. A plan's successor is stored
  before its action starts, so a slow action or a pending retry never delays the plan's
  next regular occurrence.
- The last processed second is checkpointed in the store. After downtime or a stalled loop
  every missed second is processed in order (at most ``max_catchup`` of them one by one;
  plans due before that window still fire once). When the clock steps backwards the
  ticker waits until it passes the checkpoint again, processing only what was created for
  the stepped clock meanwhile (a claim takes an occurrence only once): no second is
  processed twice.
- Claiming ahead (``claim_ahead`` seconds, 0 disables it): on the regular path, when the
  next second S is still ahead, what is due at S is claimed at ``S - claim_ahead`` and held
  (:mod:`.hold`) until the clock reaches S. From :data:`BOUNDARY_HOLD` before S until those
  firings have ended (at most :data:`~.workers.ACK_DELAY` after S), the service's bulk work
  and automatic garbage collections are held off. Then S is claimed again (the
  rest of a large burst, plans created or replaced meanwhile); S counts as processed only
  after that claim. Catch-up, the stepped-back branch and a failed tick claim at the
  boundary. While the boundary is ahead, the actions prepare the held firings
  (:meth:`~forsun.action.base.Action.prepare`: the http action parses their requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine
from typing import Any

import attrs

from ..action.base import Firing
from ..clock import Clock
from ..gc_schedule import pause_young, resume_young
from ..plan import FINISHED_STATUSES
from ..stats import Stats
from ..store.base import Store
from ..tasks import cancel
from .hold import Held, Hold
from .liveness import Liveness
from .occurrences import Pair, Successors, firing_of
from .settings import EngineSettings
from .workers import Workers

log = logging.getLogger(__package__)  # "forsun.engine", as the log lines always said

#: Occurrences claimed per store call; a burst larger than this is claimed in batches.
CLAIM_BATCH = 5_000
#: Seconds before a boundary from which the service's bulk work (bulk creations) waits
#: until the held firings have ended: long enough for a running slice to end
#: (:mod:`forsun.pacing`).
BOUNDARY_HOLD = 0.02

#: Holds the service's bulk work off while the block runs.
BulkHold = Callable[[], contextlib.AbstractContextManager[object]]


@attrs.define(eq=False)
class Ticker:
    """The tick loop of one engine, claiming as node ``node_id``."""

    store: Store
    stats: Stats
    settings: EngineSettings
    node_id: str
    clock: Clock
    liveness: Liveness
    successors: Successors
    hold: Hold
    workers: Workers
    hold_bulk_work: BulkHold
    #: The last second processed (None before :meth:`start`).
    last_second: int | None = attrs.field(init=False, default=None)
    _loop: asyncio.Task[None] | None = attrs.field(init=False, default=None)
    _releases: set[asyncio.Task[None]] = attrs.field(init=False, factory=set)

    async def start(self) -> None:
        """Resume after the checkpoint (the second before now on a new store)."""
        checkpoint = await self.store.get_checkpoint()
        now_second = math.floor(self.clock.now())
        self.last_second = now_second - 1 if checkpoint is None else checkpoint
        self._loop = asyncio.create_task(self._tick_loop(), name="forsun-tick")

    async def stop(self) -> None:
        """Stop ticking and releasing held occurrences (they stay in flight)."""
        await cancel(self._loop)
        releases = list(self._releases)
        for task in releases:
            task.cancel()
        await asyncio.gather(*releases, return_exceptions=True)

    async def save_checkpoint(self) -> None:
        """Checkpoint the last processed second, if the store lets it."""
        if self.last_second is not None:
            with contextlib.suppress(Exception):
                await self.store.set_checkpoint(self.last_second)

    async def _tick_loop(self) -> None:
        assert self.last_second is not None
        claim_ahead = self.settings.claim_ahead
        while True:
            target = math.floor(self.clock.now())
            stepped_back = target <= self.last_second
            try:
                if stepped_back:
                    # The clock stepped back: seconds up to the checkpoint were processed, but
                    # plans created since may be due on the current clock. A claim takes an
                    # occurrence only once, so this never fires anything twice.
                    await self._process_second(target)
                else:
                    await self._process_through(target)
            except Exception:  # a store failure, in either branch: the loop must go on
                self.stats.inc("timer_loop_ready_error_count")
                log.exception("tick failed; retrying")
                await self._sleep_until(self.clock.now() + 1)
                continue
            if stepped_back:
                await self._sleep_until(target + 1)
                continue
            self.stats.inc("timer_loop_count")
            second = self.last_second + 1
            if claim_ahead:
                await self._sleep_until(second - claim_ahead)
                if not second - claim_ahead <= self.clock.now() < second:
                    continue  # late, or the clock stepped: look at it again
                await self._claim_ahead(second)
            await self._sleep_until(second)

    async def _process_through(self, target: int) -> None:
        """Process every second after the last processed one up to ``target``, in order."""
        assert self.last_second is not None
        max_catchup = self.settings.max_catchup
        first = self.last_second + 1
        if target - first + 1 > max_catchup:
            skipped_to = target - max_catchup
            log.warning("%d missed seconds exceed max_catchup_seconds=%d; plans due up to %d "
                        "fire once at the next tick", target - first + 1, max_catchup,
                        skipped_to)
            first = skipped_to + 1
        missed = target - first
        fired = 0
        for second in range(first, target + 1):
            fired += await self._process_second(second)
            self.last_second = second
        await self.store.set_checkpoint(target)
        if missed > 0:
            self.stats.inc("catchup_seconds_count", missed)
            self.stats.inc("catchup_plans_count", fired)
        if missed > 1 or (missed and fired):
            log.info("caught up %d missed seconds (%d..%d), %d occurrences", missed, first,
                     target - 1, fired)

    async def _process_second(self, second: int) -> int:
        """Claim everything due up to ``second`` and start it; how many were claimed."""
        total = 0
        while True:
            claimed, held = await self._claim(second)
            if held:  # claimed ahead by a node stopped before their due second, released
                self._spawn(self._release(held), "forsun-hold")
            total += claimed
            await asyncio.sleep(0)  # let this batch's firings start before claiming more
            if claimed < CLAIM_BATCH:
                return total

    async def _claim_ahead(self, second: int) -> None:
        """Claim what is due up to ``second`` while the clock is before it and hold it;
        once ``clock >= second``, release it to the workers (see the module docstring).

        A failure is logged; whatever was claimed before it still fires at ``second``, and
        the claim at the boundary tries again.
        """
        held: list[Held] = []
        try:
            while True:
                claimed, batch = await self._claim(second)
                held += batch
                for part in batch:
                    self.workers.prepare(part.pairs, until=second)
                await asyncio.sleep(0)
                if claimed < CLAIM_BATCH or self.clock.now() >= second:
                    break
        except Exception:
            self.stats.inc("timer_loop_ready_error_count")
            log.exception("claiming ahead of second %d failed; claiming at the boundary",
                          second)
        if not held:
            return
        self.stats.inc("claimed_ahead_count", sum(len(batch.pairs) for batch in held))
        later = [batch for batch in held if batch.second > second]
        if later:  # expired leases another node claimed ahead of a later second
            self._spawn(self._release(later), "forsun-hold")
        hold = self.hold
        await hold.wait_due(second - BOUNDARY_HOLD)
        # Until the second's firings have ended: no bulk slice, and no automatic garbage
        # collection traversing their live tasks (gc_schedule); the two go together, so that
        # no bulk work piles up objects for one long collection after the pause.
        burst = contextlib.ExitStack()
        burst.enter_context(self.hold_bulk_work())
        try:
            await hold.wait_due(second)
            pause_young()
            burst.callback(resume_young)
            firings = await hold.release(batch for batch in held if batch.second <= second)
        finally:
            self.workers.after_burst(burst.close)
        self.workers.start_firings(firings)
        await asyncio.sleep(0)  # let them start before the claim at the boundary

    async def _claim(self, second: int) -> tuple[int, list[Held]]:
        """Claim a batch due up to ``second``: store the successors of the occurrences due
        now and start them, hold the others. Returns how many were claimed and what is
        held, nothing of it if the epoch ended meanwhile (they are another node's now)."""
        liveness = self.liveness
        async with liveness.turn():
            epoch = liveness.epoch
            lease_until = self.clock.now() + self.settings.lease_seconds
            claimed = await self.store.claim(second, node=self.node_id,
                                             lease_until=lease_until, limit=CLAIM_BATCH)
        if not claimed:
            return 0, []
        now = self.clock.now()
        due: list[Pair] = []
        ahead: list[Pair] = []
        for pair in self.successors.pairs(claimed):
            (due if pair[0].next_time <= now else ahead).append(pair)
        firings = await self._reschedule(due) if due else []
        self.stats.inc("timeout_handling_count",
                       sum(1 for plan in claimed if plan.status not in FINISHED_STATUSES))
        if epoch != liveness.epoch:
            return len(claimed), []
        self.workers.start_firings(firings)
        return len(claimed), self.hold.add(ahead) if ahead else []

    async def _reschedule(self, pairs: list[Pair]) -> list[Firing]:
        """Store the successors of occurrences due now; their firings.

        Successors go first: if the store fails here nothing fires, and the occurrences come
        back when their lease expires, so no plan is left without a next due second.
        """
        await self.store.reschedule_many(pairs)
        firings = []
        for plan, _ in pairs:
            if plan.status in FINISHED_STATUSES:  # kept for status_expried; nothing fires
                self.workers.ack(plan)
            else:
                firings.append(firing_of(plan))
        return firings

    async def _release(self, held: list[Held]) -> None:
        """Start the ``held`` firings as each becomes due."""
        for batch in sorted(held, key=lambda batch: batch.second):
            await self.hold.wait_due(batch.second)
            self.workers.start_firings(await self.hold.release((batch,)))

    async def _sleep_until(self, when: float) -> None:
        """Sleep until ``clock >= when``, or return after about a second so the caller
        looks at the clock again (it may have stepped)."""
        while True:
            delay = when - self.clock.now()
            if delay <= 0:
                return
            await self.clock.sleep(min(delay, 1.0))
            if delay > 1.0:
                return

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)
