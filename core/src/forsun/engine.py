"""The engine: ticks on wall-clock second boundaries, claims due occurrences from the store,
fires their actions with bounded concurrency, retries failures and acks what is done.

Guarantees (DESIGN 4):

- A second S is processed only once ``clock() >= S``: nothing fires early. Each tick sleeps
  until the next boundary computed from the clock, so there is no drift.
- The last processed second is checkpointed in the store. After downtime or a stalled loop
  every missed second is processed in order (at most ``max_catchup_seconds`` of them one by
  one; plans due before that window still fire once). When the clock steps backwards the
  engine waits until it passes the checkpoint again: no second is processed twice.
- At-least-once: an occurrence stays in flight in the store until its action finished (or
  exhausted its retries). After a crash, :meth:`Engine.start` releases this node's
  in-flight occurrences and they fire again. Actions get the key and due second.
- A plan's successor is scheduled when the occurrence is claimed, so a slow action or a
  pending retry never delays the plan's next regular occurrence.

Heartbeats (stores with ``heartbeat_interval``, see :mod:`forsun.store.base`): the engine
renews its node every ``heartbeat_interval`` seconds, ``node_lease`` ahead, so a node that
dies has its claims taken over by another node's claim within ``node_lease`` plus a tick.
Its claims are safe until the ``alive_until`` of its last heartbeat (by its own clock);
an action starts only before that time, else only once a new heartbeat has answered. A
heartbeat answering that the claims were taken over (the node was silent longer than
``node_lease``: paused, cut off) starts a new *epoch*: every occurrence claimed before
that has not started yet is dropped, never fired nor acked, since another node fires it.
Actions already running then run on, so such an occurrence may fire twice
(at-least-once); an ack of a finished one is still written (it did run). Claims and
heartbeats take turns (``_liveness``), so a claim is of the epoch it started in.

Claiming ahead (``claim_ahead`` seconds, option ``--claim-ahead``, 0 disables it): on the
regular path, when the next second S is still ahead, the engine claims what is due at S
already at ``S - claim_ahead`` (claiming, decoding and rescheduling leave the critical path)
and holds those firings until ``clock() >= S``, then hands them to the workers and claims
again for S (the rest of a large burst, plans created or changed meanwhile; a claim takes
an occurrence only once). S counts as processed only after that second claim. Catch-up,
the clock-stepped-back branch and a failed tick work as without claiming ahead.

- Leases run from the clock at claim time, so a held occurrence's lease is at most
  ``claim_ahead`` shorter in effect; held firings left by :meth:`Engine.stop` stay in
  flight and fire after the next start (at-least-once), never before their due second.
- Every claimed occurrence whose due second is still ahead waits for it (this also covers
  one claimed ahead by a node that stopped before the boundary and was released), except
  when the clock is more than ``claim_ahead + STEP_BACK_TOLERANCE`` before its due second:
  the clock stepped back after the claim, and holding until the clock is back would hold
  the lease as long (another node might then fire it too). It fires at once: it was at
  most ``claim_ahead`` ahead by the clock it was claimed with. A smaller step back is
  waited out, so nothing fires early on a clock stepped back by less than half a second.
- A plan removed or replaced through this node's service while its occurrence is held is
  dropped from the hold (:meth:`Engine.forget`): it does not fire with the old state, and a
  replacement due at the same second fires once, claimed on its own. Removed or replaced
  through another node sharing the store, it still fires once at its due second with the
  state it was claimed with, like an occurrence whose action is already running.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs

from . import schedule
from .action.base import ActionError, Firing
from .plan import STATUS_FINISHED, STATUS_WAITING, Plan
from .tasks import cancel
from .watchdog import Slot, Watchdog

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)

#: Occurrences claimed per store call; a burst larger than this is claimed in batches.
CLAIM_BATCH = 5_000
#: Seconds stop() lets running actions finish before cancelling them (they fire again later).
STOP_GRACE = 5.0
#: Largest accepted ``claim_ahead``: the claim for S follows the processing of S - 1.
MAX_CLAIM_AHEAD = 0.9
#: A held occurrence fires at once when the clock is this much further before its due second
#: than ``claim_ahead`` explains: the clock stepped back (see the module docstring).
STEP_BACK_TOLERANCE = 0.5
#: Seconds before a boundary from which the service's long jobs (bulk creations) wait until
#: the held firings have started: long enough for a running slice to end (``forsun.pacing``).
BOUNDARY_HOLD = 0.02


class Engine:
    """Tick loop and action workers of one service. ``clock`` returns unix seconds."""

    def __init__(self, service: Service, *, clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.store = service.store
        self.stats = service.stats
        self.clock = clock
        options = service.options
        self.workers = max(1, int(options.action_workers))
        self.timeout = float(options.action_timeout)
        self.lease_margin = float(options.lease_margin)
        self.retry_delay = float(options.retry_delay_seconds)
        self.retry_rate = float(options.retry_delay_rate)
        self.retry_max = int(options.retry_max_count)
        self.max_catchup = max(1, int(options.max_catchup_seconds))
        self.status_expried = int(options.status_expried)
        self.claim_ahead = min(max(0.0, float(options.claim_ahead)), MAX_CLAIM_AHEAD)
        if self.claim_ahead != float(options.claim_ahead):
            log.warning("claim_ahead=%s is outside 0..%g; using %g", options.claim_ahead,
                        MAX_CLAIM_AHEAD, self.claim_ahead)
        self.last_second: int | None = None
        self._queue: collections.deque[Firing] = collections.deque()
        self._active = 0
        self._acks: list[Plan] = []
        self._ack_flusher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchdog = Watchdog(self.timeout)
        self._loop_task: asyncio.Task[None] | None = None
        #: Claimed occurrences waiting for their due second, by plan key.
        self._held: dict[str, Firing] = {}
        #: See "Heartbeats" in the module docstring.
        self._alive_until = -math.inf if self.store.heartbeat_interval else math.inf
        self._epoch = 0
        self._liveness = asyncio.Lock()
        self._heartbeats: asyncio.Task[None] | None = None
        self._heartbeat_wanted = asyncio.Event()
        self._answered = asyncio.Event()  # set (and replaced) by each heartbeat answered

    @property
    def lease_seconds(self) -> float:
        return self.timeout + self.lease_margin

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping.clear()
        await self.store.release(self.service.node_id)
        if self.store.heartbeat_interval:
            await self._heartbeat(start=True)
            self._heartbeats = asyncio.create_task(self._heartbeat_loop(),
                                                   name="forsun-heartbeat")
        checkpoint = await self.store.get_checkpoint()
        now_second = math.floor(self.clock())
        self.last_second = now_second - 1 if checkpoint is None else checkpoint
        self._watchdog.start()
        self._loop_task = asyncio.create_task(self._tick_loop(), name="forsun-tick")

    async def stop(self) -> None:
        self._stopping.set()
        await cancel(self._loop_task)
        await cancel(self._heartbeats)
        running = [slot.task for slot in self._watchdog.slots if slot.task is not None]
        if running:
            await asyncio.wait(running, timeout=STOP_GRACE)
        tasks = [*self._tasks, *running]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._watchdog.stop()
        self._held.clear()  # still in flight in the store: they fire after the next start
        if self._ack_flusher is not None:
            await self._ack_flusher
        if self.last_second is not None:
            with contextlib.suppress(Exception):
                await self.store.set_checkpoint(self.last_second)

    def _spawn(self, coro, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- ticking -----------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        assert self.last_second is not None
        while not self._stopping.is_set():
            target = math.floor(self.clock())
            if target <= self.last_second:
                # The clock stepped back: seconds up to the checkpoint were processed, but plans
                # created since may be due on the current clock. A claim takes an occurrence
                # only once, so this never fires anything twice.
                await self._process_second(target)
                await self._sleep_until(target + 1)
                continue
            try:
                await self._process_through(target)
            except Exception:
                self.stats.inc("timer_loop_ready_error_count")
                log.exception("tick failed; retrying")
                await self._sleep_until(self.clock() + 1)
                continue
            self.stats.inc("timer_loop_count")
            second = self.last_second + 1
            if self.claim_ahead:
                await self._sleep_until(second - self.claim_ahead)
                if (self._stopping.is_set()
                        or not second - self.claim_ahead <= self.clock() < second):
                    continue  # stopping, late, or the clock stepped: look at it again
                await self._claim_ahead(second)
            await self._sleep_until(second)

    async def _process_through(self, target: int) -> None:
        """Process every second after the last processed one up to ``target``, in order."""
        assert self.last_second is not None
        first = self.last_second + 1
        if target - first + 1 > self.max_catchup:
            skipped_to = target - self.max_catchup
            log.warning("%d missed seconds exceed max_catchup_seconds=%d; plans due up to %d "
                        "fire once at the next tick", target - first + 1, self.max_catchup,
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
        """Claim everything due up to ``second`` and hand it to the workers."""
        total = 0
        while True:
            claimed, firings = await self._claim(second)
            early = self._start(firings)
            if early:  # claimed ahead by a node stopped before their due second, released
                self._hold(early)
                self._spawn(self._release(early), "forsun-hold")
            total += claimed
            await asyncio.sleep(0)  # let this batch's firings start before claiming more
            if claimed < CLAIM_BATCH:
                return total

    async def _claim_ahead(self, second: int) -> None:
        """Claim what is due up to ``second`` while the clock is before it, then start those
        firings once ``clock() >= second`` (see the module docstring).

        A failure is logged; whatever was claimed before it still fires at ``second``, and
        the claim at the boundary tries again.
        """
        held: list[Firing] = []
        try:
            while True:
                claimed, firings = await self._claim(second)
                early = self._start(firings)
                self._hold(early)  # now, so that a lost epoch drops them (_forfeit)
                held += early
                await asyncio.sleep(0)
                if claimed < CLAIM_BATCH or self.clock() >= second:
                    break
        except Exception:
            self.stats.inc("timer_loop_ready_error_count")
            log.exception("claiming ahead of second %d failed; claiming at the boundary",
                          second)
        if not held:
            return
        self.stats.inc("claimed_ahead_count", len(held))
        later = [firing for firing in held if firing.ts > second]
        if later:  # expired leases another node claimed ahead of a later second
            self._spawn(self._release(later), "forsun-hold")
        await self._wait_due(second - BOUNDARY_HOLD)
        with self.service.pacer.hold():  # no bulk slice between the boundary and the firings
            await self._wait_due(second)
            self._start_held([firing for firing in held if firing.ts <= second])
            await asyncio.sleep(0)  # let them start before the claim at the boundary

    async def _claim(self, second: int) -> tuple[int, list[Firing]]:
        """Claim a batch due up to ``second`` and dispatch it: how many were claimed and
        the firings, none if the epoch ended meanwhile (they are another node's now)."""
        async with self._liveness:
            epoch = self._epoch
            lease_until = self.clock() + self.lease_seconds
            claimed = await self.store.claim(second, node=self.service.node_id,
                                             lease_until=lease_until, limit=CLAIM_BATCH)
        firings = await self._dispatch(claimed)
        return len(claimed), firings if epoch == self._epoch else []

    # -- heartbeats --------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        """Renew this node every ``heartbeat_interval``, or at once when an action waits
        for it (:meth:`_confirm_claims`)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heartbeat_wanted.wait(),
                                       self.store.heartbeat_interval)
            self._heartbeat_wanted.clear()
            try:
                await self._heartbeat()
            except Exception as exc:
                log.warning("heartbeat failed (%s: %s); actions wait for one once the node "
                            "lease ends", type(exc).__name__, exc)

    async def _heartbeat(self, *, start: bool = False) -> None:
        """Renew this node. On the first heartbeat (``start``) a False answer means
        nothing: no claim is older."""
        async with self._liveness:
            alive_until = self.clock() + self.store.node_lease
            intact = await self.store.heartbeat(self.service.node_id, alive_until)
            self._alive_until = alive_until
            if not (intact or start):
                self._forfeit()
        answered, self._answered = self._answered, asyncio.Event()
        answered.set()

    def _forfeit(self) -> None:
        """This node's claims were taken over: start a new epoch and drop every firing of
        the old one that has not started (see the module docstring)."""
        self._epoch += 1
        dropped = len(self._held) + len(self._queue)
        self._held.clear()
        self._queue.clear()
        self.stats.inc("claims_lost_count")
        self.stats.inc("claims_lost_dropped_count", dropped)
        log.warning("this node was silent longer than the node lease and its claims were "
                    "taken over by another node; dropped %d queued or held occurrences "
                    "(actions already running finish and may fire twice)", dropped)

    async def _confirm_claims(self) -> None:
        """Return once a heartbeat has answered that this node's claims are safe now, or
        lost (then the epoch has changed)."""
        while self.clock() >= self._alive_until:
            answered = self._answered
            self._heartbeat_wanted.set()
            await answered.wait()

    def _start(self, firings: list[Firing]) -> list[Firing]:
        """Enqueue the firings whose due second the clock has reached; return the others."""
        now = self.clock()
        early = []
        for firing in firings:
            if firing.ts <= now:
                self._enqueue(firing)
            else:
                early.append(firing)
        return early

    async def _release(self, firings: list[Firing]) -> None:
        """Enqueue ``firings`` (claimed before their due seconds) as each becomes due."""
        by_second: dict[int, list[Firing]] = collections.defaultdict(list)
        for firing in firings:
            by_second[firing.ts].append(firing)
        for second in sorted(by_second):
            await self._wait_due(second)
            self._start_held(by_second[second])

    def _hold(self, firings: list[Firing]) -> None:
        for firing in firings:
            self._held[firing.key] = firing

    def _start_held(self, firings: list[Firing]) -> None:
        """Enqueue the held ``firings`` that :meth:`forget` did not drop."""
        held = self._held
        for firing in firings:
            if held.get(firing.key) is firing:
                del held[firing.key]
                self._enqueue(firing)

    def held(self, key: str) -> Plan | None:
        """The claimed state of ``key``'s occurrence held until its due second, if any (a
        one-shot plan has already left the store then)."""
        firing = self._held.get(key)
        return None if firing is None else firing.plan

    def forget(self, keys: Iterable[str], *, created_time: float | None = None) -> list[Plan]:
        """The plans of ``keys`` were just removed or replaced: an occurrence of theirs that
        is claimed but held until its due second must not fire with the old state. It is
        dropped and acked (a replacement due then is claimed and fires on its own); returns
        the claimed states dropped.

        ``created_time``: that of the replacements. An occurrence of the replacement itself
        (claimed between its store write and this call) is kept.
        """
        held = self._held
        if not held:
            return []
        dropped = []
        for key in keys:
            firing = held.get(key)
            if firing is not None and firing.plan.created_time != created_time:
                del held[key]
                self.stats.inc("claimed_ahead_dropped_count")
                self._ack(firing.plan)
                dropped.append(firing.plan)
        return dropped

    async def _wait_due(self, second: int) -> None:
        """Return once ``clock() >= second``, or as soon as the clock is more than
        ``claim_ahead + STEP_BACK_TOLERANCE`` before it (it stepped back: see the module
        docstring). Cancelled by :meth:`stop`, which leaves the firings in flight."""
        while True:
            delay = second - self.clock()
            if delay <= 0 or delay > self.claim_ahead + STEP_BACK_TOLERANCE:
                return
            await asyncio.sleep(delay)

    async def _dispatch(self, claimed: list[Plan]) -> list[Firing]:
        """Store each claimed plan's successor, then return the occurrences to fire.

        Successors go first: if the store fails here nothing fires, and the occurrences come
        back when their lease expires, so no plan is left without a next due second.
        """
        expired = [plan for plan in claimed if plan.status == STATUS_FINISHED]
        due = [plan for plan in claimed if plan.status != STATUS_FINISHED]
        following: dict[tuple[object, ...], int | None] = {}  # plans of a burst share fields
        pairs = [(plan, None) for plan in expired]
        pairs += [(plan, self.successor(plan, following)) for plan in due]
        await self.store.reschedule_many(pairs)
        for plan in expired:  # kept for status_expried; its time is up, nothing fires
            self._ack(plan)
        self.stats.inc("timeout_handling_count", len(due))
        return [Firing(key=plan.key, ts=plan.next_time, params=plan.params, plan=plan)
                for plan in due]

    def successor(self, plan: Plan,
                  memo: dict[tuple[object, ...], int | None] | None = None) -> Plan | None:
        """The stored state after the occurrence ``plan.next_time`` fires (None: remove).

        ``memo`` caches next due seconds by schedule fields within one claimed batch.
        """
        due = plan.next_time
        fired = plan.current_count + 1
        now = max(math.floor(self.clock()), due)  # claimed ahead: as if at the due second
        following = None
        if not plan.count or fired < plan.count:
            after = max(due, now - self.max_catchup)
            fields = (plan.is_time_out, plan.second, plan.minute, plan.hour, plan.day,
                      plan.month, plan.week, after)
            if memo is not None and fields in memo:
                following = memo[fields]
            else:
                following = schedule.next_due(plan, after, self.service.tz)
                if memo is not None:
                    memo[fields] = following
        if following is not None:
            return _evolve(plan, fired, due, following, STATUS_WAITING)
        if self.status_expried > 0:
            return _evolve(plan, fired, due, now + self.status_expried, STATUS_FINISHED)
        return None

    async def _sleep_until(self, when: float) -> None:
        """Sleep until ``clock() >= when``, or return after about a second so the caller
        looks at the clock again (it may have stepped)."""
        while not self._stopping.is_set():
            delay = when - self.clock()
            if delay <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=min(delay, 1.0))
            if delay > 1.0:
                return

    # -- firing ------------------------------------------------------------------------

    def _enqueue(self, firing: Firing) -> None:
        """Run ``firing`` now if fewer than ``action_workers`` actions run, else queue it."""
        if self._active < self.workers:
            self._active += 1
            slot = Slot()
            slot.task = asyncio.create_task(self._run(slot, firing, self._epoch))
            self._watchdog.slots.add(slot)
            return
        self._queue.append(firing)
        self.stats.inc("action_queued_count")
        if len(self._queue) % 10_000 == 0:
            log.warning("%d occurrences wait for a free action worker (action_workers=%d)",
                        len(self._queue), self.workers)

    async def _run(self, slot: Slot, firing: Firing, epoch: int) -> None:
        """Fire ``firing`` (claimed in ``epoch``), then keep taking queued firings while
        any wait (the queue holds the current epoch's only: :meth:`_forfeit` empties it)."""
        try:
            while True:
                await self._fire(slot, firing, epoch)
                if not self._queue or self._stopping.is_set():
                    return
                firing, epoch = self._queue.popleft(), self._epoch
        finally:
            self._active -= 1
            self._watchdog.slots.discard(slot)

    async def _fire(self, slot: Slot, firing: Firing, epoch: int) -> None:
        """Execute one firing under the action timeout (the watchdog cancels it), unless
        its epoch ended: then it is another node's."""
        if self.clock() >= self._alive_until:
            await self._confirm_claims()
        if epoch != self._epoch:
            self.stats.inc("claims_lost_dropped_count")
            return
        if firing.attempt == 0:
            lateness = self.clock() - firing.ts
            self.stats.observe_lateness(max(0.0, lateness))
            if lateness >= 1.0:
                self.stats.inc("late_fired_count")
        self.stats.inc("action_executing_count")
        try:
            action = self.service.action(firing.plan.action)
            self._watchdog.arm(slot)
            await action.execute(firing)
        except ActionError as exc:
            self._failed(firing, str(exc), exc.retry, epoch)
        except (asyncio.CancelledError, TimeoutError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not self._watchdog.expired(slot):
                raise
            self.stats.inc("action_timeout_count")
            self._failed(firing, f"timed out after {self.timeout:g}s", True, epoch)
        except Exception as exc:
            log.debug("action error", exc_info=True)
            self._failed(firing, f"{type(exc).__name__}: {exc}", True, epoch)
        else:
            self.stats.inc("action_executed_count")
            self.stats.inc("timeout_handled_count")
            log.debug("fired %s at %d (attempt %d)", firing.key, firing.ts, firing.attempt)
            self._ack(firing.plan)
        finally:
            self._watchdog.disarm(slot)
            self.stats.dec("action_executing_count")

    def _failed(self, firing: Firing, reason: str, retry: bool, epoch: int) -> None:
        plan = firing.plan
        if retry and firing.attempt < self.retry_max:
            delay = self.retry_delay * self.retry_rate ** firing.attempt
            self.stats.inc("action_retried_count")
            log.warning("action %s of %s (due %d) failed: %s; retry %d/%d in %.1fs",
                        plan.action, plan.key, firing.ts, reason, firing.attempt + 1,
                        self.retry_max, delay)
            retry_firing = attrs.evolve(firing, attempt=firing.attempt + 1)
            self._spawn(self._schedule_retry(retry_firing, delay, epoch),
                        f"forsun-retry-{plan.key}")
            return
        self.stats.inc("action_executed_error_count")
        self.stats.inc("timeout_handled_count")
        log.error("action %s of %s (due %d) failed after %d attempt(s): %s", plan.action,
                  plan.key, firing.ts, firing.attempt + 1, reason)
        self._ack(plan)

    def _ack(self, plan: Plan) -> None:
        """Queue the ack of a finished occurrence; acks are written in batches."""
        self._acks.append(plan)
        if self._ack_flusher is None:
            self._ack_flusher = asyncio.create_task(self._flush_acks(), name="forsun-ack")

    async def _flush_acks(self) -> None:
        await asyncio.sleep(0)  # let occurrences finishing in this loop pass join the batch
        try:
            while self._acks:
                batch, self._acks = self._acks, []
                try:
                    await self.store.ack_many(batch)
                except Exception:  # they stay in flight and fire again: at-least-once
                    log.exception("acking %d occurrences failed", len(batch))
        finally:
            self._ack_flusher = None

    async def _schedule_retry(self, firing: Firing, delay: float, epoch: int) -> None:
        """Fire ``firing`` again after ``delay``, unless its epoch ends first."""
        if epoch != self._epoch:
            return  # taken over while it ran: the other node fires it
        await self.store.extend_lease(firing.plan, self.clock() + delay + self.lease_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)
        if not self._stopping.is_set() and epoch == self._epoch:
            self._enqueue(firing)


def _evolve(plan: Plan, current_count: int, last_timeout: int, next_time: int,
            status: int) -> Plan:
    """A copy of ``plan`` after an occurrence (attrs.evolve is several times slower)."""
    return Plan(key=plan.key, second=plan.second, minute=plan.minute, hour=plan.hour,
                day=plan.day, month=plan.month, week=plan.week, is_time_out=plan.is_time_out,
                count=plan.count, current_count=current_count, status=status,
                next_time=next_time, last_timeout=last_timeout,
                created_time=plan.created_time, action=plan.action, params=plan.params)
