"""Counters the service exposes through ``info()`` (the original's names kept)."""

from __future__ import annotations

import collections

import attrs

#: Counters reported by ``info()`` under these exact names (the original's ``forsun info``
#: prints every one of them).
COUNTERS = (
    "connecting_count", "connected_count", "requesting_count", "requested_count",
    "requested_error_count", "http_connecting_count", "http_connected_count",
    "http_requesting_count", "http_requested_count", "http_requested_error_count",
    "created_count", "create_timeouted_count", "removed_count",
    "timeout_handling_count", "timeout_handled_count", "action_executing_count",
    "action_executed_count", "action_executed_error_count", "action_retried_count",
    "timer_loop_count", "timer_loop_ready_error_count",
    "late_fired_count", "catchup_seconds_count", "catchup_plans_count",
    "action_queued_count", "action_timeout_count",
    "connection_evicted_count", "connection_refused_count", "connection_idle_closed_count",
    "http_connection_refused_count",
)


@attrs.define
class Stats:
    """Mutable counters plus a window of recent firing lateness (seconds)."""

    counters: collections.Counter[str] = attrs.field(factory=collections.Counter)
    lateness: collections.deque[float] = attrs.field(
        factory=lambda: collections.deque(maxlen=10_000))

    def inc(self, name: str, value: int = 1) -> None:
        self.counters[name] += value

    def dec(self, name: str, value: int = 1) -> None:
        self.counters[name] -= value

    def observe_lateness(self, seconds: float) -> None:
        self.lateness.append(seconds)

    def lateness_percentile(self, fraction: float) -> float:
        """The ``fraction`` quantile (0..1) of recent lateness, 0.0 when nothing fired."""
        if not self.lateness:
            return 0.0
        ordered = sorted(self.lateness)
        return ordered[round(fraction * (len(ordered) - 1))]

    def as_info(self) -> dict[str, str]:
        info = {name: str(self.counters[name]) for name in COUNTERS}
        for name, value in self.counters.items():
            info.setdefault(name, str(value))
        info["lateness_p50_ms"] = f"{self.lateness_percentile(0.5) * 1000:.3f}"
        info["lateness_p99_ms"] = f"{self.lateness_percentile(0.99) * 1000:.3f}"
        return info
