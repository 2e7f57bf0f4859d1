"""A claimed plan's occurrence: the firing it becomes, and the successor the store keeps of
the plan once it has fired."""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence

from .. import schedule
from ..action.base import Firing
from ..clock import Clock
from ..plan import FINISHED_STATUSES, STATUS_FINISHED, STATUS_WAITING, Plan, evolved
from .settings import EngineSettings

#: A claimed plan and the state to store after its occurrence (None: remove the plan), as
#: :meth:`forsun.store.base.Store.reschedule_many` takes them.
Pair = tuple[Plan, Plan | None]


def firing_of(plan: Plan) -> Firing:
    """The first attempt at the claimed occurrence ``plan.next_time`` of ``plan``."""
    return Firing(key=plan.key, ts=plan.next_time, params=plan.params, plan=plan)


class Successors:
    """Computes successors in the server's time zone ``tz``."""

    def __init__(self, settings: EngineSettings, tz: datetime.tzinfo, clock: Clock) -> None:
        self.settings = settings
        self.tz = tz
        self.clock = clock

    def pairs(self, claimed: Sequence[Plan]) -> list[Pair]:
        """``(plan, successor)`` for each claimed plan. A plan kept for ``status_expried``
        whose time is up (status finished) has no successor: it is removed, nothing fires."""
        memo: dict[tuple[object, ...], int | None] = {}  # plans of a burst share fields
        return [(plan, None if plan.status in FINISHED_STATUSES
                 else self.successor(plan, memo)) for plan in claimed]

    def successor(self, plan: Plan,
                  memo: dict[tuple[object, ...], int | None] | None = None) -> Plan | None:
        """The stored state after the occurrence ``plan.next_time`` fires (None: remove).

        ``memo`` caches next due seconds by schedule fields within one claimed batch.
        """
        settings = self.settings
        due = plan.next_time
        fired = plan.current_count + 1
        now = max(math.floor(self.clock.now()), due)  # claimed ahead: as if at the due second
        following = None
        if not plan.count or fired < plan.count:
            after = max(due, now - settings.max_catchup)
            fields = (plan.is_time_out, plan.second, plan.minute, plan.hour, plan.day,
                      plan.month, plan.week, after)
            if memo is not None and fields in memo:
                following = memo[fields]
            else:
                following = schedule.next_due(plan, after, self.tz)
                if memo is not None:
                    memo[fields] = following
        if following is not None:
            return evolved(plan, current_count=fired, last_timeout=due, next_time=following,
                           status=STATUS_WAITING)
        if settings.status_expried > 0:
            return evolved(plan, current_count=fired, last_timeout=due,
                           next_time=now + settings.status_expried, status=STATUS_FINISHED)
        return None

