"""burst: many plans due in the same second.

1. ``burst_plans`` plans with the bench's ``noop`` action (:mod:`bench.noop`): the time from
   the due second until forsund's ``action_executed_count`` counted them all (info polled
   every 50 ms, so figures are up to ~50 ms pessimistic). This isolates the engine
   (claim, reschedule, dispatch, ack): an action with a real target adds that target's
   cost. Baseline: a bare asyncio loop running as many no-op tasks.
2. ``burst_http_plans`` plans with the http action calling the receiver: the time from the
   due second until the receiver got the last one, by the receiver's clock. Baseline: the
   ideal timer firing the same requests in one second.
"""

from __future__ import annotations

import math
import time

from .bare import bare_tasks_seconds
from .context import Context
from .delivery import create_in_time, fire_ideal, fire_via, schedule
from .plans import fixed, key
from .precision import ZERO
from .report import Goal, Row
from .target import Target, next_second

ALL_FIRED_GOAL = Goal.at_most(3, " s")
POLL = 0.05


def run(ctx: Context) -> None:
    noop_burst(ctx)
    http_burst(ctx)


def noop_burst(ctx: Context) -> None:
    target = ctx.main().target
    count = ctx.profile.burst_plans
    before = target.counter("action_executed_count")
    due = next_second(ctx.lead(target, count))
    plans = [fixed(key(f"{ctx.tag}b", index), due, "noop", {}) for index in range(count)]
    started = time.perf_counter()
    create_in_time(ctx, target, plans, due)
    created_in = time.perf_counter() - started
    samples = poll_executed(target, before + count, deadline=due + 300)
    in_first_second = max((n for t, n in samples if t < due + 1), default=before) - before
    last_time, last_count = samples[-1]
    all_fired = last_time - due if last_count >= before + count else math.nan
    info = target.info()
    bare = bare_tasks_seconds(count)
    ctx.add(Row("burst", f"{count:,} plans in one second (noop action): all fired after",
                all_fired, "s", baseline=f"bare asyncio, {count:,} no-op tasks",
                baseline_value=bare, goal=ALL_FIRED_GOAL,
                note=f"{100 * in_first_second / count:.1f} % fired within the due second; "
                     f"forsund's own lateness p99 {info.get('lateness_p99_ms', '?')} ms; "
                     f"created at {count / created_in:,.0f} plans/s"))
    ctx.add(Row("burst", "noop burst firing rate", count / all_fired, "plans/s",
                baseline="bare asyncio no-op tasks", baseline_value=count / bare))


def poll_executed(target: Target, wanted: int, deadline: float) -> list[tuple[float, int]]:
    """``(time, action_executed_count)`` samples until the count reaches ``wanted``."""
    samples = []
    while time.time() < deadline:
        count = target.counter("action_executed_count")
        samples.append((time.time(), count))
        if count >= wanted:
            break
        time.sleep(POLL)
    return samples


def http_burst(ctx: Context) -> None:
    target = ctx.main().target
    count = ctx.profile.burst_http_plans
    result = fire_via(ctx, target, schedule(ctx, target, f"{ctx.tag}h", count, 1))
    ideal = fire_ideal(ctx, schedule(ctx, None, f"{ctx.tag}j", count, 1))
    ctx.add(Row("burst", f"{count:,} plans in one second (http action → receiver): "
                         "last received after", result.max_ms / 1000, "s",
                baseline="ideal timer, same requests", baseline_value=ideal.max_ms / 1000,
                note=f"p50 {result.p50_ms:.0f} ms, p99 {result.p99_ms:.0f} ms; "
                     f"{result.fraction_within:.1f} % within the due second "
                     f"(ideal {ideal.fraction_within:.1f} %)"))
    ctx.add(Row("burst", "http burst: missing + duplicate firings",
                result.missing + result.duplicates, "firings", goal=ZERO,
                note=f"{result.missing} missing, {result.duplicates} duplicates, "
                     f"{result.early} early"))
