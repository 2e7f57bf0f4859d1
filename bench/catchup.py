"""catchup: plans due while forsund is down fire when it comes back.

forsund (mem store) gets ``catchup_rate`` plans due in each of the next ``catchup_down``
seconds (http action → receiver) and is stopped before the first is due; once every one
of those seconds has passed and it has been down ``catchup_down`` seconds, it is started
again. Measured from exec: serving (both ports accept), the engine reporting the catch-up
(``catchup_seconds_count`` > 0 in ``info``, polled), and the receiver getting the last missed
firing (by its clock). Baseline: the same forsund's start-up on an empty store.
"""

from __future__ import annotations

import time

from .context import Context
from .delivery import create_in_time
from .lateness import summarize
from .plans import fixed, key
from .precision import ZERO
from .report import Row
from .target import Forsund, next_second, sleep_until, wait_counter


def run(ctx: Context) -> None:
    down, rate = ctx.profile.catchup_down, ctx.profile.catchup_rate
    receiver = ctx.receiver()
    workdir = ctx.workdir("catchup")
    server = Forsund.start(workdir)
    empty_start = server.started_in
    count = down * rate
    first = next_second(ctx.lead(server.target, count) + 1)
    due = {key(f"{ctx.tag}u", i): first + i % down for i in range(count)}
    receiver.reset()
    try:
        create_in_time(ctx, server.target,
                       [fixed(name, second, "http", {"url": receiver.url(name), "method": "GET"})
                        for name, second in due.items()], first)
    finally:
        server.stop()
        stopped_at = time.time()
    if stopped_at >= first:
        raise RuntimeError("forsund stopped after the first plan was due")
    sleep_until(max(stopped_at + down, first + down))
    exec_at = time.time()
    server = Forsund.start(workdir)
    try:
        caught_at = wait_counter(server.target, "catchup_seconds_count", 1, exec_at + 120)
        receiver.wait(count, deadline=time.time() + 120)
        time.sleep(ctx.profile.settle)
        info = server.target.info()
    finally:
        server.stop()
    result = summarize(due, receiver.records())
    base = {"baseline": "empty store start", "baseline_value": empty_start}
    ctx.add(Row("catchup", f"exec → serving after {exec_at - stopped_at:.1f} s down",
                server.started_in, "s", **base))
    ctx.add(Row("catchup", "exec → engine caught up (catchup_seconds_count > 0)",
                caught_at - exec_at if caught_at else None, "s", **base,
                note=f"catchup_seconds_count {info.get('catchup_seconds_count')}, "
                     f"catchup_plans_count {info.get('catchup_plans_count')} (info polled "
                     f"once serving)"))
    ctx.add(Row("catchup", f"exec → all {count:,} missed firings received",
                result.last_received - exec_at, "s", **base,
                note=f"{rate} plans due in each of {down} missed seconds"))
    ctx.add(Row("catchup", "missed firings lost or duplicated",
                result.missing + result.duplicates, "firings", goal=ZERO,
                note=f"{result.missing} lost, {result.duplicates} duplicated, "
                     f"{result.early} early"))
