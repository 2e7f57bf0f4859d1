"""Prometheus metrics of one service (``GET /metrics``; ``--no-metrics`` turns them off).

Each service has its own :class:`~prometheus_client.CollectorRegistry` (several services
in one process do not mix). What changes on the firing path is counted as it happens, from
the engine's :class:`~forsun.outcomes.Outcome` of each attempt (a few dict lookups and
locked increments); everything else is read at scrape time (:meth:`Metrics.scrape`): the
service's :class:`~forsun.stats.Stats` counters, the engine's queue, the store's counts.
Labels stay few: action, result, front end, method, store operation — never a plan key.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from .outcomes import Outcome

if TYPE_CHECKING:
    from .stats import Stats
    from .store.base import Store

#: Content type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds ahead counted by ``forsun_plans_due_soon``.
DUE_SOON_SECONDS = 60
#: Lateness buckets (seconds): the engine aims at milliseconds, catch-up reaches minutes.
LATENESS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 30.0, 60.0, 300.0)
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                 0.25, 0.5, 1.0, 2.5)
#: Stats counters exposed as they are: metric name (without ``forsun_``) → counter, help.
STATS_COUNTERS = {
    "catchup_seconds": ("catchup_seconds_count",
                        "Missed seconds processed after downtime or a stall"),
    "catchup_plans": ("catchup_plans_count", "Occurrences fired during catch-up"),
    "late_firings": ("late_fired_count", "First attempts started 1 s or more after their "
                                         "due second"),
    "action_timeouts": ("action_timeout_count", "Attempts cancelled by --action-timeout"),
    "claims_lost": ("claims_lost_dropped_count",
                    "Occurrences dropped because another node took this node's claims"),
}


@attrs.frozen(slots=True)
class Gauges:
    """What the scrape reads from the running service (:meth:`Metrics.scrape`)."""

    in_flight: int
    queued: int
    plans: int
    due_soon: int
    failures: int | None
    failures_dropped: int | None


class Metrics:
    """The metrics of one service."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.firings = Counter("forsun_firings", "Attempts of occurrences by action and "
                               "result (ok; retry: failed, tried again; failed: given up)",
                               ("action", "result"), registry=registry)
        self.manual = Counter("forsun_manual_firings", "Firings an operator asked for (fire "
                              "now, retry of a failure), by action and result",
                              ("action", "result"), registry=registry)
        self.start_lateness = Histogram(
            "forsun_firing_start_lateness_seconds", "From the due second to the start of "
            "the first attempt", registry=registry, buckets=LATENESS_BUCKETS)
        self.end_lateness = Histogram(
            "forsun_firing_end_lateness_seconds", "From the due second to the end of the "
            "first attempt", registry=registry, buckets=LATENESS_BUCKETS)
        self.duration = Histogram("forsun_action_duration_seconds", "Time an attempt's action "
                                  "ran", ("action",), registry=registry,
                                  buckets=LATENESS_BUCKETS)
        self.requests = Counter("forsun_requests", "Requests by front end, method (HTTP "
                                "method or Thrift call) and result (ok, error)",
                                ("frontend", "method", "result"), registry=registry)
        self.store_seconds = Histogram("forsun_store_operation_seconds", "Time of store "
                                       "calls by operation", ("operation",),
                                       registry=registry, buckets=STORE_BUCKETS)
        ProcessCollector(registry=registry)
        self._gauges: Gauges | None = None
        registry.register(_ScrapeCollector(self))
        self._firing_children: dict[tuple[str, str], Any] = {}
        self._duration_children: dict[str, Any] = {}

    # -- counted as it happens -------------------------------------------------------------

    def observe(self, outcome: Outcome) -> None:
        """Count one attempt (an :data:`~forsun.outcomes.OutcomeSink`)."""
        result = "ok" if outcome.ok else "failed" if outcome.final else "retry"
        if outcome.manual:
            self.manual.labels(outcome.action, result).inc()
            return
        child = self._firing_children.get((outcome.action, result))
        if child is None:
            child = self._firing_children[outcome.action, result] = self.firings.labels(
                outcome.action, result)
        child.inc()
        duration = self._duration_children.get(outcome.action)
        if duration is None:
            duration = self._duration_children[outcome.action] = self.duration.labels(
                outcome.action)
        duration.observe(outcome.duration)
        if outcome.attempt == 0:
            late = outcome.start - outcome.due
            self.start_lateness.observe(max(0.0, late))
            self.end_lateness.observe(max(0.0, late + outcome.duration))

    def request(self, frontend: str, method: str, ok: bool) -> None:
        self.requests.labels(frontend, method, "ok" if ok else "error").inc()

    def instrument(self, store: Store) -> None:
        """Time every call of ``store``'s contract methods (replaced on the instance, so
        the store stays what it is for ``isinstance``)."""
        from .store.base import Store

        for name, _member in inspect.getmembers(Store, inspect.iscoroutinefunction):
            if not name.startswith("_"):
                method = getattr(store, name)
                setattr(store, name, _timed(method, self.store_seconds.labels(name).observe))

    # -- read at scrape time ---------------------------------------------------------------

    async def scrape(self, read: Callable[[], Any]) -> bytes:
        """The text exposition, with ``await read()`` giving the :class:`Gauges`."""
        self._gauges = await read()
        return generate_latest(self.registry)

    def _collect(self) -> Iterator[Metric]:
        counters = self.stats.counters
        for name, (counter, text) in STATS_COUNTERS.items():
            yield CounterMetricFamily(f"forsun_{name}", text, value=counters[counter])
        gauges = self._gauges
        if gauges is None:
            return
        for name, value, text in (
            ("in_flight", gauges.in_flight, "Attempts whose action runs now"),
            ("queued", gauges.queued, "Firings waiting for a free action worker"),
            ("plans", gauges.plans, "Plans stored"),
            ("plans_due_soon", gauges.due_soon,
             f"Plans due within the next {DUE_SOON_SECONDS} seconds"),
            ("failures", gauges.failures, "Entries of the store's failures list"),
        ):
            if value is not None:
                yield GaugeMetricFamily(f"forsun_{name}", text, value=value)
        if gauges.failures_dropped is not None:
            yield CounterMetricFamily("forsun_failures_dropped", "Failures the store dropped "
                                      "to stay within --failures-max",
                                      value=gauges.failures_dropped)


class _ScrapeCollector:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics._collect()

    def describe(self) -> list[Metric]:
        return []


def _timed(method: Callable[..., Any], observe: Callable[[float], None]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            observe(time.perf_counter() - start)

    return timed
