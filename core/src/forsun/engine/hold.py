"""The claim-ahead hold: occurrences claimed before their due second wait here for it.

The engine claims what is due at the next second S ``claim_ahead`` seconds before S, so
that claiming, decoding and computing successors leave the critical path. Such an
occurrence is *held*: nothing of it is written until S (the claim itself aside), so the
store stays the only source of truth for its plan, which stays readable (and removable)
as claimed. At S the hold stores the held plans' successors with one
:meth:`~forsun.store.base.Store.reschedule_many`, which reports per plan whether the stored
plan was still the claimed one:

- still claimed: its successor is stored and the occurrence fires;
- removed or replaced meanwhile, through this node or any other sharing the store: it is
  acked without firing (``claimed_ahead_dropped_count``); a replacement due at S is claimed
  at the boundary and fires once, with its own state. The ack is written before that claim,
  which takes the same occurrence (key, S) again;
- a plan kept for ``status_expried`` whose time is up: removed and acked, nothing fires.

A store whose ``reschedule_many`` reports nothing (returns None) counts every plan as
still claimed: a plan removed or replaced in that last fraction of a second then fires once
with the state it was claimed with.

Guarantees:

- Nothing fires before its due second: :meth:`Hold.wait_due` returns once the clock has
  reached it, except when the clock is more than ``claim_ahead`` +
  :data:`STEP_BACK_TOLERANCE` before it: the clock stepped back after the claim, and
  holding until the clock is back would hold the lease as long (another node might then
  fire it too). It fires at once: it was at most ``claim_ahead`` ahead by the clock it was
  claimed with. A smaller step back is waited out, so nothing fires early on a clock
  stepped back by less than half a second.
- Leases run from the clock at claim time, so a held occurrence's lease is at most
  ``claim_ahead`` shorter in effect. Held occurrences left by a stop (or a crash) stay in
  flight, their plans unchanged: they fire after the next start, never before their due
  second. Those of an epoch that ended (:mod:`.liveness`) are dropped unwritten: another
  node has them.
- A held occurrence claimed again after its lease ended (its node stopped before the due
  second) was never rescheduled, so whether its plan is still the claimed one means the
  same. This assumes the nodes' clocks agree within ``claim_ahead``: a node whose clock is
  ahead may have rescheduled and started it before another node's clock reaches it.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable

import attrs

from ..action.base import Firing
from ..clock import Clock
from ..plan import FINISHED_STATUSES
from ..stats import Stats
from ..store.base import Store
from .liveness import Liveness
from .occurrences import Pair, firing_of
from .settings import EngineSettings

log = logging.getLogger(__package__)  # "forsun.engine", as the log lines always said

#: A held occurrence fires at once when the clock is this much further before its due
#: second than ``claim_ahead`` explains: the clock stepped back (see the module docstring).
STEP_BACK_TOLERANCE = 0.5


@attrs.define(eq=False, slots=True)
class Held:
    """Claimed pairs whose plans are due at ``second``, and the firing of each (built while
    they are held, so that the boundary only starts them)."""

    second: int
    pairs: list[Pair]
    firings: list[Firing] = attrs.field()

    @firings.default
    def _firings_of_pairs(self) -> list[Firing]:
        return [firing_of(plan) for plan, _ in self.pairs]


@attrs.define(eq=False)
class Hold:
    """The held occurrences of one engine."""

    store: Store
    stats: Stats
    settings: EngineSettings
    clock: Clock
    liveness: Liveness
    _held: set[Held] = attrs.field(init=False, factory=set)

    def add(self, pairs: Iterable[Pair]) -> list[Held]:
        """Hold claimed ``pairs`` of the present epoch, due after now, until their due
        seconds; one :class:`Held` per second."""
        by_second: dict[int, list[Pair]] = collections.defaultdict(list)
        for pair in pairs:
            by_second[pair[0].next_time].append(pair)
        held = [Held(second, part) for second, part in sorted(by_second.items())]
        self._held.update(held)
        return held

    def drop(self) -> int:
        """Forget every held occurrence, unwritten (a stop, or the epoch ended); how many."""
        dropped = sum(len(held.pairs) for held in self._held)
        self._held.clear()
        return dropped

    async def wait_due(self, second: float) -> None:
        """Return once the clock has reached ``second``, or as soon as it is more than
        ``claim_ahead + STEP_BACK_TOLERANCE`` before it (it stepped back)."""
        while True:
            delay = second - self.clock.now()
            if delay <= 0 or delay > self.settings.claim_ahead + STEP_BACK_TOLERANCE:
                return
            await self.clock.sleep(delay)

    async def release(self, batches: Iterable[Held]) -> list[Firing]:
        """At the batches' due second: store the successors, ack what is not to fire (see
        the module docstring), and return the firings of the plans still claimed.

        Batches dropped meanwhile are skipped. A failure to store the successors is
        logged: the occurrences then stay in flight and fire once their leases end.
        """
        liveness = self.liveness
        if liveness.unconfirmed():
            await liveness.confirm()  # a lost epoch drops the batches
        batches = [held for held in batches if held in self._held]
        self._held.difference_update(batches)
        pairs = [pair for held in batches for pair in held.pairs]
        built = [firing for held in batches for firing in held.firings]
        if not pairs:
            return []
        epoch = liveness.epoch
        try:
            claimed = await self.store.reschedule_many(pairs)
        except Exception:
            self.stats.inc("timer_loop_ready_error_count")
            log.exception("storing the successors of %d occurrences claimed ahead failed; "
                          "they fire once their leases end", len(pairs))
            return []
        if epoch != liveness.epoch:
            self.stats.inc("claims_lost_dropped_count", len(pairs))
            return []
        if claimed is None or len(claimed) != len(pairs):
            claimed = [True] * len(pairs)  # the store reports nothing (see the module docstring)
        firings = []
        unfired = []
        replaced = 0
        for (plan, _), firing, still in zip(pairs, built, claimed, strict=True):
            if plan.status in FINISHED_STATUSES:
                unfired.append(plan)
            elif still is False:
                unfired.append(plan)
                replaced += 1
            else:
                firings.append(firing)
        if replaced:
            self.stats.inc("claimed_ahead_dropped_count", replaced)
        if unfired:
            try:
                await self.store.ack_many(unfired)
            except Exception:  # they stay in flight and fire again: at-least-once
                log.exception("acking %d occurrences failed", len(unfired))
        return firings
