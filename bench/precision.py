"""precision: plans with the http action calling the local receiver; lateness = receive
time - due second. Two rates (``precision_runs``): the issue's 10 000 plans over 60 s
(~167 firings at every second boundary: the figures include queueing behind one another in
the HTTP client and the receiver), and a low rate (5 per second) where that queueing is
negligible, so the figures show the timer itself.

Baseline: the ideal timer (:mod:`bench.ideal`) firing the same rate per second at the same
receiver, measured in the same run (over at most ``ideal_spread`` seconds).
"""

from __future__ import annotations

from .context import Context
from .delivery import fire_ideal, fire_via, schedule
from .lateness import Lateness
from .report import Goal, Row

P99_GOAL = Goal.at_most(20, " ms")
WITHIN_GOAL = Goal.at_least(100, " %")
ZERO = Goal.at_most(0)


def run(ctx: Context) -> None:
    for index, (plans, spread) in enumerate(ctx.profile.precision_runs):
        measure(ctx, f"{ctx.tag}p{index}", plans, spread)


def measure(ctx: Context, prefix: str, plans: int, spread: int) -> None:
    measured: list[tuple[str, Lateness]] = []
    for target in ctx.targets():
        due = schedule(ctx, target, prefix, plans, spread)
        try:
            measured.append((target.name, fire_via(ctx, target, due)))
        finally:
            if target is ctx.compare:
                target.remove_prefix(prefix)
    ideal_spread = min(spread, ctx.profile.ideal_spread)
    ideal = fire_ideal(ctx, schedule(ctx, None, f"{prefix}i", max(1, plans * ideal_spread
                                                                  // spread), ideal_spread))
    rate = plans / spread
    for name, result in measured:
        rows(ctx, name, result, ideal, f"{rate:.0f}/s: ",
             f"{result.expected} plans over {spread} s; ideal timer: {ideal.expected} plans "
             f"over {ideal_spread} s")


def rows(ctx: Context, target: str, result: Lateness, ideal: Lateness, what: str,
         about: str) -> None:
    """The lateness rows of one measured server against the ideal timer."""
    base = "ideal timer"

    def add(figure: str, value: float, unit: str, baseline: float | None = None,
            goal: Goal | None = None, note: str = "") -> None:
        ctx.add(Row("precision", f"{what}{figure}", value, unit, target=target,
                    baseline=base if baseline is not None else "", baseline_value=baseline,
                    goal=goal, note=note))

    add("lateness p50", result.p50_ms, "ms", ideal.p50_ms, note=about)
    add("lateness p99", result.p99_ms, "ms", ideal.p99_ms, P99_GOAL)
    add("lateness max", result.max_ms, "ms", ideal.max_ms)
    add("fired within the due second", result.fraction_within, "%", ideal.fraction_within,
        WITHIN_GOAL)
    add("fired early (before the due second)", result.early, "plans", goal=ZERO)
    add("missing firings", result.missing, "plans", goal=ZERO,
        note=f"{result.received} of {result.expected} received")
    add("duplicate firings", result.duplicates, "firings", goal=ZERO,
        note=f"{result.wrong_ts} with a wrong X-FORSUN-TIMESTAMP")
