"""precision: plans with the http action calling the local receiver; lateness = receive
time - due second. Two rates (``precision_runs``): the issue's 10 000 plans over 60 s
(~167 firings at every second boundary: the figures include queueing behind one another in
the HTTP client and the receiver), and a low rate (5 per second) where that queueing is
negligible, so the figures show the timer itself.

Baseline: the ideal timer (:mod:`bench.ideal`) firing the same rate per second at the same
receiver, measured in the same run (over at most ``ideal_spread`` seconds).

The engine alone (``engine_run``): as many plans per second with the bench's noop action on
a fresh forsund, and forsund's own lateness (``info``: due second to the action's start, by
forsund's clock), which is what the timer adds before any HTTP request is made.
"""

from __future__ import annotations

import time

from .context import Context
from .delivery import create_in_time, fire_ideal, fire_via, schedule
from .lateness import Lateness
from .plans import delay, fixed, key
from .report import Goal, Row
from .target import Forsund

DAY = 86_400

P99_GOAL = Goal.at_most(20, " ms")
#: Issue 26: 10^5 plans over 60 s (~1 700 firings at each boundary) with p99 <= 100 ms.
FAST_RATE = 1_000
FAST_P99_GOAL = Goal.at_most(100, " ms")
WITHIN_GOAL = Goal.at_least(100, " %")
ZERO = Goal.at_most(0)


def run(ctx: Context) -> None:
    for index, (plans, spread) in enumerate(ctx.profile.precision_runs):
        measure(ctx, f"{ctx.tag}p{index}", plans, spread)
    for background in (0, ctx.profile.engine_background):
        engine_alone(ctx, *ctx.profile.engine_run, background)


def engine_alone(ctx: Context, plans: int, spread: int, background: int) -> None:
    """forsund's own lateness firing ``plans`` noop plans over ``spread`` seconds, after
    ``background`` far-future plans were created (at run time, so they are not among the
    start-up objects forsund freezes out of the garbage collector's way)."""
    server = Forsund.start(ctx.workdir(f"precision-noop-{background}"), noop=True)
    try:
        target = server.target
        if background:
            target.create_bulk([delay(key(f"{ctx.tag}g", index), DAY)
                                for index in range(background)], ctx.profile.bulk_batch)
        due = schedule(ctx, target, f"{ctx.tag}n", plans, spread)
        create_in_time(ctx, target, [fixed(name, second, "noop", {})
                                     for name, second in due.items()], min(due.values()))
        deadline = max(due.values()) + 30
        while target.counter("action_executed_count") < plans and time.time() < deadline:
            time.sleep(0.25)
        info = target.info()
    finally:
        server.stop()
    fired = int(info.get("action_executed_count", 0))
    beside = f", {background:,} other plans" if background else ""
    what = f"{plans / spread:.0f}/s, noop action{beside}: "
    note = (f"{fired} of {plans} fired over {spread} s; due second -> action start, "
            f"by forsund's clock (the timer without HTTP); {info.get('gc_full_collections')} "
            "full garbage collections")
    for figure, name, goal in (("p50", "lateness_p50_ms", None),
                               ("p99", "lateness_p99_ms", P99_GOAL)):
        ctx.add(Row("precision", f"{what}forsund's own lateness {figure}",
                    float(info.get(name, "nan")), "ms",
                    goal=goal, note=note if figure == "p50" else ""))
    ctx.add(Row("precision", f"{what}missing firings", plans - fired, "plans", goal=ZERO))


def measure(ctx: Context, prefix: str, plans: int, spread: int) -> None:
    measured: list[tuple[str, Lateness]] = []
    for target in ctx.targets():
        if target is ctx.compare and plans > ctx.profile.compared_plans:
            continue  # the original fires late by up to a second already at 167/s
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
    samples = ctx.lateness.setdefault(f"{rate:.0f} firings/s over {spread} s", {})
    samples.update((name, result.samples_ms) for name, result in measured)
    samples["ideal timer"] = ideal.samples_ms
    for name, result in measured:
        rows(ctx, name, result, ideal, f"{rate:.0f}/s: ",
             f"{result.expected} plans over {spread} s; ideal timer: {ideal.expected} plans "
             f"over {ideal_spread} s", FAST_P99_GOAL if rate > FAST_RATE else P99_GOAL)


def rows(ctx: Context, target: str, result: Lateness, ideal: Lateness, what: str,
         about: str, p99_goal: Goal = P99_GOAL) -> None:
    """The lateness rows of one measured server against the ideal timer."""
    base = "ideal timer"

    def add(figure: str, value: float, unit: str, baseline: float | None = None,
            goal: Goal | None = None, note: str = "") -> None:
        ctx.add(Row("precision", f"{what}{figure}", value, unit, target=target,
                    baseline=base if baseline is not None else "", baseline_value=baseline,
                    goal=goal, note=note))

    add("lateness p50", result.p50_ms, "ms", ideal.p50_ms, note=about)
    add("lateness p99", result.p99_ms, "ms", ideal.p99_ms, p99_goal)
    add("lateness p99 after the first second", result.warm_p99_ms, "ms", ideal.warm_p99_ms,
        note="the first due second also opens the connections the later ones reuse")
    add("lateness max", result.max_ms, "ms", ideal.max_ms)
    add("fired within the due second", result.fraction_within, "%", ideal.fraction_within,
        WITHIN_GOAL)
    add("fired early (before the due second)", result.early, "plans", goal=ZERO)
    add("missing firings", result.missing, "plans", goal=ZERO,
        note=f"{result.received} of {result.expected} received")
    add("duplicate firings", result.duplicates, "firings", goal=ZERO,
        note=f"{result.wrong_ts} with a wrong X-FORSUN-TIMESTAMP")
