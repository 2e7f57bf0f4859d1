"""Summaries of firings as a receiver saw them, against the due seconds the bench asked for."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import attrs


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) quantile of ``values`` by the nearest-rank method."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@attrs.frozen
class Lateness:
    """Firings of ``expected`` plans: lateness in milliseconds of each plan's first
    firing (receive time minus due second), counts of missing, duplicate, early and
    wrong-timestamp firings, and the span from the first due second to the last receipt.
    ``warm_p99_ms`` leaves out the first due second, whose requests also open the
    connections every later second reuses (NaN when there is one due second)."""

    expected: int
    received: int
    p50_ms: float
    p99_ms: float
    warm_p99_ms: float
    max_ms: float
    within_second: float
    early: int
    missing: int
    duplicates: int
    wrong_ts: int
    last_received: float
    #: each received plan's lateness (ms), for the charts
    samples_ms: tuple[float, ...] = attrs.field(default=(), repr=False)

    @property
    def fraction_within(self) -> float:
        """Percentage of expected plans fired within their due second."""
        return 100.0 * self.within_second / self.expected if self.expected else math.nan


def summarize(due: Mapping[str, int],
              records: Iterable[tuple[str, int | None, float]]) -> Lateness:
    """Compare ``records`` (key, X-FORSUN-TIMESTAMP, receive time) with ``due`` (key →
    due second). Records of other keys are ignored. A record whose timestamp header is
    missing counts as carrying the due second (servers may not send it)."""
    seen: Counter[str] = Counter()
    first: dict[str, float] = {}
    wrong_ts = 0
    for key, stamp, received in records:
        if key not in due:
            continue
        seen[key] += 1
        if stamp is not None and stamp != due[key]:
            wrong_ts += 1
        if key not in first or received < first[key]:
            first[key] = received
    late = [(first[key] - due[key]) * 1000.0 for key in first]
    first_second = min(due.values(), default=0)
    warm = [(first[key] - due[key]) * 1000.0 for key in first if due[key] != first_second]
    return Lateness(
        expected=len(due), received=len(first),
        p50_ms=percentile(late, 0.50), p99_ms=percentile(late, 0.99),
        warm_p99_ms=percentile(warm, 0.99),
        max_ms=max(late, default=math.nan),
        within_second=sum(1 for ms in late if 0.0 <= ms < 1000.0),
        early=sum(1 for ms in late if ms < 0.0),
        missing=len(due) - len(first),
        duplicates=sum(count - 1 for count in seen.values()),
        wrong_ts=wrong_ts,
        last_received=max(first.values(), default=math.nan),
        samples_ms=tuple(late))
