"""bulkload: firing precision while big bulk creations arrive.

Plans with the http action call the receiver at ``bulkload_rate`` firings per second for
``bulkload_spread`` seconds on a fresh forsund (mem store, default options). The figures
are the receiver's lateness, as in :mod:`bench.precision`:

- baseline: that firing load alone;
- value: the same firing load while ``bulkload_batches`` bulk creations of the largest body
  forsund accepts (``--http-max-body-size``, default 16 MiB: about 100 000 plans each) are
  sent at once on as many connections, starting ``BULK_START`` seconds after the first due
  second. Half of them ask ``?reply=keys``, half the full answer. The note gives the plans
  created and the rate of the bulk creation (all batches, from the first request to the
  last answer).

Goal: p99 ≤ 50 ms: forsund keeps its second while it takes in bulk loads.
"""

from __future__ import annotations

import concurrent.futures
import time

import orjson

from .context import Context
from .delivery import fire_via, schedule
from .plans import delay, key
from .precision import ZERO
from .report import Goal, Row
from .target import Forsund, Target, sleep_until

P99_GOAL = Goal.at_most(50, " ms")
#: Seconds after the first due second the bulk creations start (firing is then steady).
BULK_START = 2.0
DELAY_SECONDS = 3600


def run(ctx: Context) -> None:
    profile = ctx.profile
    rate, spread = profile.bulkload_rate, profile.bulkload_spread
    bodies = [bulk_body(f"{ctx.tag}L{index}", profile.bulkload_body)
              for index in range(profile.bulkload_batches)]
    server = Forsund.start(ctx.workdir("bulkload"))
    try:
        target = server.target
        quiet = fire_via(ctx, target, schedule(ctx, target, f"{ctx.tag}q", rate * spread,
                                               spread))
        due = schedule(ctx, target, f"{ctx.tag}l", rate * spread, spread)
        bulk: list[tuple[int, float]] = []
        loaded = fire_via(ctx, target, due, during=lambda: bulk.append(
            send_at(target, bodies, min(due.values()) + BULK_START)))
    finally:
        server.stop()
    created, seconds = bulk[0]
    size = f"{len(bodies[0]) / 2**20:.0f} MiB"
    what = f"{rate}/s while {len(bodies)} bulk creations of {size} arrive: "
    base = f"the same {rate}/s alone"
    ctx.add(Row("bulkload", f"{what}lateness p99", loaded.p99_ms, "ms", baseline=base,
                baseline_value=quiet.p99_ms, goal=P99_GOAL,
                note=f"{loaded.expected} plans over {spread} s; {created:,} plans bulk-created "
                     f"in {seconds:.1f} s ({created / seconds:,.0f} plans/s)"))
    ctx.add(Row("bulkload", f"{what}lateness max", loaded.max_ms, "ms", baseline=base,
                baseline_value=quiet.max_ms))
    ctx.add(Row("bulkload", f"{what}missing firings", loaded.missing + quiet.missing,
                "plans", goal=ZERO, note=f"{loaded.received} + {quiet.received} of "
                                         f"{loaded.expected + quiet.expected} received"))


def bulk_body(prefix: str, limit: int) -> bytes:
    """A JSON array of delay plans (due in an hour, so they never fire here) as long as
    fits in ``limit`` bytes."""
    items, size, index = [], 2, 0
    while True:
        item = orjson.dumps(delay(key(prefix, index), DELAY_SECONDS))
        if size + len(item) + 1 > limit:
            return b"[" + b",".join(items) + b"]"
        items.append(item)
        size += len(item) + 1
        index += 1


def send_at(target: Target, bodies: list[bytes], when: float) -> tuple[int, float]:
    """At ``when``, send every body at once (one connection each; even ones ask
    ``?reply=keys``); return the plans created and the seconds until the last answer."""
    paths = ["/v1/plans?reply=keys" if index % 2 == 0 else "/v1/plans"
             for index in range(len(bodies))]
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        sleep_until(when)
        started = time.perf_counter()
        replies = list(pool.map(lambda args: target.request("POST", *args),
                                zip(paths, bodies, strict=True)))
        seconds = time.perf_counter() - started
    return sum(len(reply) for reply in replies), seconds
