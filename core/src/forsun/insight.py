"""What operators ask a running service: how it is doing (overview, nodes, metrics), what
comes next (due soon, a plan's next occurrences), what happened (history, failures), and
what they may do about it (retry or discard failures, fire a plan now).

:class:`Insight` is part of the service's API (``service.insight``): front ends call it,
it reads the store, the engine's figures and the node's history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import __version__, schedule
from .errors import ErrorCode, ForsunPlanError
from .outcomes import Outcome
from .plan import Plan
from .store.base import FAILURES
from .store.failures import FailurePage

if TYPE_CHECKING:
    from .metrics import Gauges
    from .service import Service

#: Seconds ahead counted as "due soon" (overview, ``forsun_plans_due_soon``).
DUE_SOON_SECONDS = 60
#: Most plans ``due`` and most next occurrences ``next_times`` answer.
MAX_DUE = 10_000
MAX_NEXT = 100


class Insight:
    """The operator's view of ``service``."""

    def __init__(self, service: Service) -> None:
        self.service = service

    @property
    def keeps_failures(self) -> bool:
        return FAILURES in self.service.store.capabilities

    # -- how it is doing -------------------------------------------------------------------

    async def overview(self) -> dict[str, Any]:
        """The figures of ``GET /v1/overview``."""
        service = self.service
        stats = service.stats
        counters = stats.counters
        now = service.clock()
        failures = (await service.store.list_failures(limit=0)).total \
            if self.keeps_failures else 0
        return {
            "time": now, "timezone": str(service.options.timezone), "node": service.node_id,
            "plans": await service.store.count(),
            "in_flight": counters["action_executing_count"],
            "queued": service.engine.workers.queued,
            "due_next_60s": await self.count_due(DUE_SOON_SECONDS, now),
            "failures": failures,
            "firings_total": counters["action_executed_count"]
            + counters["action_executed_error_count"] + counters["action_retried_count"],
            "firings_failed_total": counters["action_executed_error_count"],
            "lateness_ms": {"p50": stats.lateness_percentile(0.5) * 1000,
                            "p99": stats.lateness_percentile(0.99) * 1000},
            "version": __version__,
        }

    async def count_due(self, seconds: int, now: float | None = None) -> int:
        """Plans due after the current second and within ``seconds`` of it."""
        second = math.floor(self.service.clock() if now is None else now)
        return await self.service.store.count_due(second + 1, second + seconds)

    async def nodes(self) -> list[dict[str, Any]]:
        """The nodes sharing the store (this one alone for a single-node store)."""
        service = self.service
        known = await service.store.nodes() or []
        rows = [{"node": state.node, "alive_until": state.alive_until,
                 "self": state.node == service.node_id, "in_flight": state.in_flight}
                for state in known]
        if not any(row["self"] for row in rows):
            rows.insert(0, {"node": service.node_id, "alive_until": None, "self": True,
                            "in_flight": service.stats.counters["action_executing_count"]})
        return rows

    async def metrics_text(self) -> bytes:
        """The Prometheus text of ``GET /metrics`` (only the process figures with
        ``--no-metrics``)."""
        metrics = self.service.metrics
        if metrics is None:
            from prometheus_client import CollectorRegistry, generate_latest
            from prometheus_client.process_collector import ProcessCollector

            registry = CollectorRegistry()
            ProcessCollector(registry=registry)
            return generate_latest(registry)
        return await metrics.scrape(self._gauges)

    async def _gauges(self) -> Gauges:
        from .metrics import Gauges

        service = self.service
        page = await service.store.list_failures(limit=0) if self.keeps_failures else None
        return Gauges(in_flight=service.stats.counters["action_executing_count"],
                      queued=service.engine.workers.queued,
                      plans=await service.store.count(),
                      due_soon=await self.count_due(DUE_SOON_SECONDS),
                      failures=page.total if page else None,
                      failures_dropped=page.dropped if page else None)

    # -- what comes next -------------------------------------------------------------------

    async def due(self, seconds: int, limit: int) -> list[Plan]:
        """At most ``limit`` plans due from the current second to ``seconds`` after it,
        in ``(next_time, key)`` order."""
        limit = max(0, min(limit, MAX_DUE))
        start = math.floor(self.service.clock())
        last, window = start + max(0, seconds), 1
        plans: list[Plan] = []
        # Windows doubling in length: a busy store is not decoded far beyond ``limit``.
        while start <= last and len(plans) < limit:
            end = min(last, start + window - 1)
            plans += await self.service.store.due(start, end)
            start, window = end + 1, window * 2
        return plans[:limit]

    async def next_times(self, key: str, n: int) -> list[int]:
        """The next ``n`` due seconds of plan ``key`` as its schedule stands (its count
        respected); 1003 if there is none."""
        plan = await self.service.get(key)
        times: list[int] = []
        due: int | None = plan.next_time
        left = plan.count - plan.current_count if plan.count else math.inf
        while due is not None and len(times) < min(n, MAX_NEXT) and left > 0:
            times.append(due)
            left -= 1
            due = schedule.next_due(plan, due, self.service.tz)
        return times

    # -- what happened ---------------------------------------------------------------------

    def history(self, key: str | None, limit: int) -> list[Outcome]:
        """This node's recent outcomes, newest first, of plan ``key`` (None: all)."""
        return self.service.history.recent(key, limit)

    async def failures(self, *, prefix: str = "", action: str = "", limit: int = 100,
                       offset: int = 0) -> FailurePage:
        """One page of the store's failures list, newest first."""
        return await self.service.store.list_failures(prefix=prefix, action=action,
                                                      limit=limit, offset=offset)

    # -- what to do about it ---------------------------------------------------------------

    async def retry(self, ids: Sequence[str] | None) -> int:
        """Fire the failures of ``ids`` (None: all) again now, as they were claimed; each
        leaves the list once it succeeds (failing again, it is replaced). How many fired."""
        self._check_fires()
        failures = await self.service.store.get_failures(_ids(ids))
        for failure in failures:
            self.service.engine.fire_now(failure.plan, failure.due)
        return len(failures)

    async def discard(self, ids: Sequence[str] | None) -> int:
        """Remove the failures of ``ids`` (None: all); how many there were."""
        return await self.service.store.remove_failures(_ids(ids))

    async def fire(self, key: str) -> Plan:
        """Fire plan ``key`` once now (its schedule goes on unchanged); 1003 if there is
        none. Returns the plan fired."""
        self._check_fires()
        plan = await self.service.get(key)
        self.service.engine.fire_now(plan, math.floor(self.service.clock()))
        return plan

    def _check_fires(self) -> None:
        """Refuse to fire on a node that fires nothing (``--server-mode``): its workers
        never start, so the firing would wait forever."""
        if not self.service.fires:
            raise ForsunPlanError(
                ErrorCode.UNKNOWN, f"this node fires no plan (server mode "
                                   f"{self.service.options.server_mode}): ask a firing node")


def _ids(ids: Sequence[str] | None) -> list[str] | None:
    if ids is None:
        return None
    if not all(isinstance(id_, str) for id_ in ids):
        raise ForsunPlanError.invalid("ids", "must be a list of strings")
    return list(ids)
