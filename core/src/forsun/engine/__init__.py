"""The engine: ticks on wall-clock second boundaries, claims due occurrences from the store,
fires their actions with bounded concurrency, retries failures and acks what is done.

:class:`Engine` is the one entry point; it wires the parts, each of which states its own
guarantees:

- :mod:`.ticker`: processing each second on its boundary, catch-up, claiming ahead;
- :mod:`.hold`: occurrences claimed ahead of their second, until it comes;
- :mod:`.workers`: the action workers, the action timeout, retries and acks;
- :mod:`.liveness`: heartbeats and epochs (stores shared by several nodes);
- :mod:`.occurrences`: a claimed plan's firing and successor;
- :mod:`.settings`: what the options tell the engine.

Delivery is at-least-once: an occurrence stays in flight in the store until its action
finished (or exhausted its retries). After a crash, :meth:`Engine.start` releases this
node's in-flight occurrences and they fire again. Actions get the key and due second.
The store is the only source of truth for a plan's state: the engine keeps no copy that
readers would need.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable

from ..action.base import Action, Firing
from ..clock import WALL_CLOCK, Clock
from ..outcomes import OutcomeSink
from ..plan import Plan
from ..stats import Stats
from ..store.base import Store
from .hold import Hold
from .liveness import Liveness
from .occurrences import Successors
from .settings import EngineSettings
from .ticker import CLAIM_BATCH, BulkHold, Ticker
from .workers import Workers

__all__ = ["CLAIM_BATCH", "Engine", "EngineSettings"]


class Engine:
    """Fires the plans of ``store`` as node ``node_id``: ``actions(name)`` is the action
    called ``name``; fixed-time plans match in ``tz``. ``hold_bulk_work()`` holds the
    service's bulk work off around each boundary (:mod:`forsun.pacing`). ``on_outcome``
    receives each attempt's :class:`~forsun.outcomes.Outcome` as it ends."""

    def __init__(self, store: Store, actions: Callable[[str], Action], *, stats: Stats,
                 settings: EngineSettings, node_id: str,
                 tz: datetime.tzinfo = datetime.UTC, clock: Clock = WALL_CLOCK,
                 hold_bulk_work: BulkHold = contextlib.nullcontext,
                 on_outcome: OutcomeSink | None = None) -> None:
        self.store = store
        self.node_id = node_id
        self.liveness = Liveness(store, node_id, stats, clock, forfeit=self._forfeit)
        self.workers = Workers(store, actions, stats, settings, clock, self.liveness,
                               node_id, on_outcome)
        self.hold = Hold(store, stats, settings, clock, self.liveness)
        self.ticker = Ticker(store, stats, settings, node_id, clock, self.liveness,
                             Successors(settings, tz, clock), self.hold, self.workers,
                             hold_bulk_work)

    async def start(self) -> None:
        """Release this node's occurrences left in flight, then tick."""
        await self.store.release(self.node_id)
        await self.liveness.start()
        self.workers.start()
        await self.ticker.start()

    async def stop(self) -> None:
        """Stop ticking, let running actions finish for a grace period (the others stay in
        flight and fire after the next start) and checkpoint."""
        await self.ticker.stop()
        await self.liveness.stop()
        await self.workers.stop()
        self.hold.drop()
        await self.ticker.save_checkpoint()

    def fire_now(self, plan: Plan, due: int) -> None:
        """Fire ``plan`` once, now, as occurrence ``due`` (an operator's request: the
        schedule and the store's state are left as they are). At-least-once does not
        apply: a node stopping before the action ends does not fire it again."""
        self.workers.start_firings([Firing(plan.key, due, plan.params, plan, manual=True)])

    def _forfeit(self) -> int:
        """This node's claims were taken over: drop what was not started; how many."""
        return self.hold.drop() + self.workers.drop_queued()
