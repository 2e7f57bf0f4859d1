"""Prometheus metrics of one service (``GET /metrics``; ``--no-metrics`` turns them off).

Each service has its own :class:`~prometheus_client.CollectorRegistry` (several services
in one process do not mix). What changes on the firing path is counted as it happens, from
the engine's :class:`~forsun.outcomes.Outcome` of each attempt, in plain integers and lists
(about 1 µs an attempt; prometheus-client's own locked counters and histograms took 6 µs,
0.6 s of CPU for a burst of 100 000 firings), and so are requests and store calls (its
labelled counter and histogram took ~3 µs of each Thrift create); the event loop is the only
writer and the scrape runs on it too. Everything else is read at scrape time
(:meth:`Metrics.scrape`): the service's :class:`~forsun.stats.Stats` counters, the engine's
queue, the store's counts.
Labels stay few: action, result, front end, method, store operation — never a plan key.
"""

from __future__ import annotations

import bisect
import collections
import functools
import inspect
import itertools
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.utils import floatToGoString

from .insight import DUE_SOON_SECONDS
from .outcomes import Outcome

if TYPE_CHECKING:
    from .stats import Stats
    from .store.base import Store

#: Content type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
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
        #: ``(action, result, manual)`` → attempts.
        self.firings: collections.Counter[tuple[str, str, bool]] = collections.Counter()
        self.start_lateness = Buckets(LATENESS_BUCKETS)
        self.end_lateness = Buckets(LATENESS_BUCKETS)
        self.durations: dict[str, Buckets] = {}
        #: ``(front end, method, result)`` → requests.
        self.requests: collections.Counter[tuple[str, str, str]] = collections.Counter()
        #: Store operation → durations of its calls (every operation once instrumented).
        self.store_seconds: dict[str, Buckets] = {}
        ProcessCollector(registry=registry)
        self._gauges: Gauges | None = None
        registry.register(_ScrapeCollector(self))

    # -- counted as it happens -------------------------------------------------------------

    def observe(self, outcome: Outcome) -> None:
        """Count one attempt (an :data:`~forsun.outcomes.OutcomeSink`)."""
        action = outcome.action
        result = "ok" if outcome.ok else "failed" if outcome.final else "retry"
        self.firings[action, result, outcome.manual] += 1
        if outcome.manual:
            return
        durations = self.durations.get(action)
        if durations is None:
            durations = self.durations[action] = Buckets(LATENESS_BUCKETS)
        durations.observe(outcome.duration)
        if outcome.attempt == 0:
            late = outcome.start - outcome.due
            self.start_lateness.observe(late if late > 0.0 else 0.0)
            late += outcome.duration
            self.end_lateness.observe(late if late > 0.0 else 0.0)

    def request(self, frontend: str, method: str, ok: bool) -> None:
        self.requests[frontend, method, "ok" if ok else "error"] += 1

    def instrument(self, store: Store) -> None:
        """Time every call of ``store``'s contract methods (replaced on the instance, so
        the store stays what it is for ``isinstance``)."""
        from .store.base import Store

        for name, _member in inspect.getmembers(Store, inspect.iscoroutinefunction):
            if not name.startswith("_"):
                method = getattr(store, name)
                buckets = self.store_seconds[name] = Buckets(STORE_BUCKETS)
                setattr(store, name, _timed(method, buckets.observe))

    # -- read at scrape time ---------------------------------------------------------------

    async def scrape(self, read: Callable[[], Any]) -> bytes:
        """The text exposition, with ``await read()`` giving the :class:`Gauges`."""
        self._gauges = await read()
        return generate_latest(self.registry)

    def _collect(self) -> Iterator[Metric]:
        for manual, name, text in (
            (False, "forsun_firings", "Attempts of occurrences by action and result (ok; "
                                      "retry: failed, tried again; failed: given up)"),
            (True, "forsun_manual_firings", "Attempts an operator asked for (fire now, "
                                            "retry of a failure), by action and result"),
        ):
            family = CounterMetricFamily(name, text, labels=("action", "result"))
            for (action, result, by_hand), count in sorted(self.firings.items()):
                if by_hand is manual:
                    family.add_metric((action, result), count)
            yield family
        for name, buckets, text in (
            ("forsun_firing_start_lateness_seconds", self.start_lateness,
             "From the due second to the start of the first attempt"),
            ("forsun_firing_end_lateness_seconds", self.end_lateness,
             "From the due second to the end of the first attempt"),
        ):
            family = HistogramMetricFamily(name, text)
            family.add_metric((), buckets.cumulative(), buckets.sum)
            yield family
        for name, text, label, histograms in (
            ("forsun_action_duration_seconds", "Time an attempt's action ran", "action",
             self.durations),
            ("forsun_store_operation_seconds", "Time of store calls by operation",
             "operation", self.store_seconds),
        ):
            family = HistogramMetricFamily(name, text, labels=(label,))
            for value, buckets in sorted(histograms.items()):
                family.add_metric((value,), buckets.cumulative(), buckets.sum)
            yield family
        family = CounterMetricFamily("forsun_requests", "Requests by front end, method (HTTP "
                                     "method or Thrift call) and result (ok, error)",
                                     labels=("frontend", "method", "result"))
        for labels, count in sorted(self.requests.items()):
            family.add_metric(labels, count)
        yield family
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


class Buckets:
    """A histogram's counts, for one writer: :meth:`observe` costs a bisection."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count of values <= le)`` per bound, ``+Inf`` last."""
        return list(zip([*map(floatToGoString, self.bounds), "+Inf"],
                        itertools.accumulate(self.counts), strict=True))


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
