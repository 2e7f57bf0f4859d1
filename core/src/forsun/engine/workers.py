"""The action workers: bounded concurrency, the action timeout, retries and acks.

- At most ``workers`` actions run at once; further firings wait in a queue, in order.
- Each action runs under ``action_timeout`` (one shared :class:`~.watchdog.Watchdog`);
  running longer, it is cancelled and counts as a failure asking for a retry.
- A failed occurrence is retried when the action asked for a retry, at most ``retry_max``
  times, retry n (1, 2, ...) ``retry_delay * (1 + retry_rate * n)`` seconds after the
  failure, the original forsun's formula (6, 9, 12 s by default); its lease is extended
  meanwhile. A pending retry never delays the plan's next occurrence (its successor was
  stored when it was claimed).
- With ``status_expried``, each attempt at a plan's last occurrence records its outcome
  in the finished plan kept for that long (1 succeeded, -1 failed), as the original did.
- At-least-once: an occurrence is acked, in batches, only once its action finished or gave
  up. One whose node stops or dies first stays in flight in the store and fires again.
  Acks wait until no action runs (at most :data:`ACK_DELAY` seconds), so that writing
  them never delays the requests of a burst still going out.
- Given up (retries exhausted or not asked for), an occurrence goes to the store's failures
  list (capability ``failures``) before it is acked. A manual firing (fire now, retry of
  a failure) was never claimed: nothing is acked; once it succeeds, the failure of its
  occurrence, if any, is removed.
- Each attempt's :class:`~forsun.outcomes.Outcome` goes to ``on_outcome`` as it ends.
- Before an action starts, the node's claims are confirmed (:mod:`.liveness`): one of an
  epoch that ended is dropped, another node fires it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import attrs

from ..action.base import Action, ActionError, Firing
from ..clock import Clock, wait_or_sleep
from ..errors import ErrorCode, ForsunPlanError
from ..outcomes import Outcome, OutcomeSink
from ..plan import FINISHED_STATUSES, STATUS_FAILED, STATUS_SUCCEEDED, Plan, evolved
from ..stats import Stats
from ..store.base import FAILURES, Store
from ..store.failures import Failure, failure_id
from .liveness import Liveness
from .occurrences import Pair
from .settings import EngineSettings
from .watchdog import Slot, Watchdog

log = logging.getLogger(__package__)  # "forsun.engine", as the log lines always said

#: Seconds :meth:`Workers.stop` lets running actions finish before cancelling them (they
#: fire again later).
STOP_GRACE = 5.0
#: Longest wait of a finished occurrence's ack for the actions still running to end.
ACK_DELAY = 0.25
#: How often a waiting ack looks whether actions still run.
ACK_POLL = 0.005


@attrs.define(eq=False)
class Workers:
    """The action workers of one engine. ``actions(name)`` is the action plans call
    ``name`` (it raises for an unknown one: the occurrence then fails)."""

    store: Store
    actions: Callable[[str], Action]
    stats: Stats
    settings: EngineSettings
    clock: Clock
    liveness: Liveness
    node_id: str = "0"
    on_outcome: OutcomeSink | None = None
    _queue: collections.deque[Firing] = attrs.field(init=False, factory=collections.deque)
    _active: int = attrs.field(init=False, default=0)
    _acks: list[Plan] = attrs.field(init=False, factory=list)
    _after_burst: list[Callable[[], None]] = attrs.field(init=False, factory=list)
    _ack_flusher: asyncio.Task[None] | None = attrs.field(init=False, default=None)
    _retries: set[asyncio.Task[None]] = attrs.field(init=False, factory=set)
    _watchdog: Watchdog = attrs.field(init=False)
    _stopping: bool = attrs.field(init=False, default=False)

    @_watchdog.default
    def _action_timeout(self) -> Watchdog:
        return Watchdog(self.settings.action_timeout, self.clock)

    def start(self) -> None:
        self._stopping = False
        self._watchdog.start()

    async def stop(self) -> None:
        """Let running actions finish for :data:`STOP_GRACE` seconds, cancel the rest and
        pending retries (all stay in flight), and write the acks."""
        self._stopping = True
        running = [slot.task for slot in self._watchdog.slots if slot.task is not None]
        if running:
            await wait_or_sleep(self.clock, asyncio.wait(running), STOP_GRACE)
        tasks = [*self._retries, *running]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._watchdog.stop()
        self._queue.clear()
        if self._ack_flusher is not None:
            await self._ack_flusher

    @property
    def queued(self) -> int:
        """Firings waiting for a free worker."""
        return len(self._queue)

    def start_firings(self, firings: Iterable[Firing]) -> None:
        """Run each firing now if fewer than ``workers`` actions run, else queue it."""
        for firing in firings:
            self._enqueue(firing)

    def prepare(self, pairs: Iterable[Pair], until: float) -> None:
        """Let each claimed plan's action prepare its firing (:meth:`Action.prepare`),
        while the clock is before ``until``."""
        now = self.clock.now
        for plan, _ in pairs:
            if now() >= until:
                return
            try:
                self.actions(plan.action).prepare(plan.params)
            except Exception:  # the firing reports it
                log.debug("preparing %s failed", plan.key, exc_info=True)

    def drop_queued(self) -> int:
        """Forget the queued firings (their epoch ended); how many."""
        dropped = len(self._queue)
        self._queue.clear()
        return dropped

    def _enqueue(self, firing: Firing) -> None:
        if self._active < self.settings.workers:
            self._active += 1
            slot = Slot()
            slot.task = asyncio.create_task(self._run(slot, firing, self.liveness.epoch))
            self._watchdog.slots.add(slot)
            return
        self._queue.append(firing)
        self.stats.inc("action_queued_count")
        if len(self._queue) % 10_000 == 0:
            log.warning("%d occurrences wait for a free action worker (action_workers=%d)",
                        len(self._queue), self.settings.workers)

    async def _run(self, slot: Slot, firing: Firing, epoch: int) -> None:
        """Fire ``firing`` (claimed in ``epoch``), then keep taking queued firings while
        any wait (the queue holds the current epoch's only: :meth:`drop_queued`)."""
        try:
            while True:
                await self._fire(slot, firing, epoch)
                if not self._queue or self._stopping:
                    return
                firing, epoch = self._queue.popleft(), self.liveness.epoch
        finally:
            self._active -= 1
            self._watchdog.slots.discard(slot)

    async def _fire(self, slot: Slot, firing: Firing, epoch: int) -> None:
        """Execute one firing under the action timeout (the watchdog cancels it), unless
        its epoch ended: then it is another node's."""
        liveness = self.liveness
        if liveness.unconfirmed():
            await liveness.confirm()
        if epoch != liveness.epoch:
            self.stats.inc("claims_lost_dropped_count")
            return
        stats = self.stats
        start = self.clock.now()
        if firing.attempt == 0 and not firing.manual:
            lateness = start - firing.ts
            stats.observe_lateness(max(0.0, lateness))
            if lateness >= 1.0:
                stats.inc("late_fired_count")
        stats.inc("action_executing_count")
        try:
            action = self.actions(firing.plan.action)
            self._watchdog.arm(slot)
            await action.execute(firing)
        except ActionError as exc:
            self._failed(firing, str(exc), exc.retry, epoch, start)
        except (asyncio.CancelledError, TimeoutError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not self._watchdog.expired(slot):
                raise
            stats.inc("action_timeout_count")
            self._failed(firing, f"timed out after {self.settings.action_timeout:g}s", True,
                         epoch, start)
        except Exception as exc:
            log.debug("action error", exc_info=True)
            self._failed(firing, f"{type(exc).__name__}: {exc}", True, epoch, start)
        else:
            stats.inc("action_executed_count")
            stats.inc("timeout_handled_count")
            log.debug("fired %s at %d (attempt %d)", firing.key, firing.ts, firing.attempt)
            if self.on_outcome is not None:
                self._report(firing, start, None, final=True)
            if not firing.manual:
                self.ack(firing.plan)
                self._record(firing, STATUS_SUCCEEDED)
            elif FAILURES in self.store.capabilities:
                self._spawn(self._store_step(self.store.remove_failures,
                                             [failure_id(firing.key, firing.ts)]),
                            f"forsun-resolved-{firing.key}")
        finally:
            self._watchdog.disarm(slot)
            stats.dec("action_executing_count")

    def _report(self, firing: Firing, start: float, error: str | None, final: bool) -> None:
        assert self.on_outcome is not None
        try:
            self.on_outcome(Outcome(
                firing.ts, firing.key, firing.plan.action, firing.attempt, start,
                self.clock.now() - start, error is None, error, self.node_id, final,
                firing.manual))
        except Exception:  # observing must never stop firing or acking
            log.exception("reporting the outcome of %s failed", firing.key)

    def _failed(self, firing: Firing, reason: str, retry: bool, epoch: int,
                start: float) -> None:
        plan = firing.plan
        settings = self.settings
        retried = retry and firing.attempt < settings.retry_max
        if self.on_outcome is not None:
            self._report(firing, start, reason, final=not retried)
        if retried:
            delay = settings.retry_delay_of(firing.attempt + 1)
            self.stats.inc("action_retried_count")
            log.warning("action %s of %s (due %d) failed: %s; retry %d/%d in %.1fs",
                        plan.action, plan.key, firing.ts, reason, firing.attempt + 1,
                        settings.retry_max, delay)
            retry_firing = attrs.evolve(firing, attempt=firing.attempt + 1)
            self._spawn(self._retry(retry_firing, delay, epoch), f"forsun-retry-{plan.key}")
            self._record(firing, STATUS_FAILED)
            return
        self.stats.inc("action_executed_error_count")
        self.stats.inc("timeout_handled_count")
        log.error("action %s of %s (due %d) failed after %d attempt(s): %s", plan.action,
                  plan.key, firing.ts, firing.attempt + 1, reason)
        self._record(firing, STATUS_FAILED)
        if FAILURES in self.store.capabilities:
            failure = Failure(firing.key, firing.ts, plan.action, firing.attempt + 1, reason,
                              self.clock.now(), self.node_id, plan)
            self._spawn(self._give_up(failure, None if firing.manual else plan),
                        f"forsun-failure-{plan.key}")
        elif not firing.manual:
            self.ack(plan)

    async def _give_up(self, failure: Failure, claimed: Plan | None) -> None:
        """Add ``failure`` to the store's list, then ack ``claimed`` (None: a manual
        firing, nothing to ack). Not acked if stopped first: it fires again."""
        await self._store_step(self.store.add_failure, failure)
        if claimed is not None:
            self.ack(claimed)

    async def _store_step(self, method: Callable[[Any], Coroutine[Any, Any, Any]],
                          argument: Any) -> None:
        try:
            await method(argument)
        except Exception:  # the failures list is for people; firing goes on
            log.exception("%s failed", getattr(method, "__name__", method))

    def _record(self, firing: Firing, status: int) -> None:
        """With ``status_expried``, record the outcome of an attempt at a plan's last
        occurrence in its status, as the original did: 1 succeeded, -1 failed (a retry
        pending or not; a retry that succeeds makes it 1). A manual firing (fire now, retry
        of a failure) records nothing: it is not an occurrence of the schedule."""
        if (self.settings.status_expried > 0 and not firing.manual
                and _may_be_last(firing.plan)):
            self._spawn(self._record_outcome(firing, status), f"forsun-status-{firing.key}")

    async def _record_outcome(self, firing: Firing, status: int) -> None:
        """Set ``status`` on the finished plan kept for ``status_expried`` that ``firing``
        left, unless it was removed or replaced since (a compare-and-set through
        :meth:`~forsun.store.base.Store.reschedule`)."""
        claimed = firing.plan
        try:
            kept = await self.store.get(claimed.key)
            if (kept.status in FINISHED_STATUSES and kept.status != status
                    and kept.last_timeout == firing.ts
                    and kept.created_time == claimed.created_time):
                await self.store.reschedule(kept, evolved(kept, status=status))
        except ForsunPlanError as exc:
            if exc.code != ErrorCode.NOT_FOUND:
                log.warning("recording the status of %s failed: %s", claimed.key, exc)
        except Exception:
            log.exception("recording the status of %s failed", claimed.key)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry(self, firing: Firing, delay: float, epoch: int) -> None:
        """Fire ``firing`` again after ``delay``, unless its epoch ends first."""
        if epoch != self.liveness.epoch:
            return  # taken over while it ran: the other node fires it
        if not firing.manual:
            lease_until = self.clock.now() + delay + self.settings.lease_seconds
            await self.store.extend_lease(firing.plan, lease_until)
        await self.clock.sleep(delay)
        if not self._stopping and epoch == self.liveness.epoch:
            self._enqueue(firing)

    def ack(self, plan: Plan) -> None:
        """Queue the ack of a finished occurrence; acks are written in batches, once no
        action runs (at most :data:`ACK_DELAY` later)."""
        self._acks.append(plan)
        self._flush_soon()

    def after_burst(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once no action runs, at most :data:`ACK_DELAY` from now (at
        once when stopping), before the acks of that moment are written."""
        self._after_burst.append(callback)
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self._ack_flusher is None:
            self._ack_flusher = asyncio.create_task(self._flush_acks(), name="forsun-ack")

    async def _flush_acks(self) -> None:
        try:
            while self._acks or self._after_burst:
                await self._burst_end()
                callbacks, self._after_burst = self._after_burst, []
                for callback in callbacks:
                    callback()
                batch, self._acks = self._acks, []
                if batch:
                    try:
                        await self.store.ack_many(batch)
                    except Exception:  # they stay in flight and fire again: at-least-once
                        log.exception("acking %d occurrences failed", len(batch))
        finally:
            self._ack_flusher = None

    async def _burst_end(self) -> None:
        """Return once no action runs, or :data:`ACK_DELAY` from now, or when stopping."""
        clock = self.clock
        give_up = clock.monotonic() + ACK_DELAY
        await asyncio.sleep(0)  # let occurrences finishing in this loop pass join the batch
        while self._active and not self._stopping and clock.monotonic() < give_up:
            await clock.sleep(ACK_POLL)


def _may_be_last(plan: Plan) -> bool:
    """Whether the occurrence of claimed ``plan`` may be its last (a delay plan firing
    forever, or one with occurrences left, is not)."""
    if plan.count:
        return plan.current_count + 1 >= plan.count
    return not plan.is_time_out
