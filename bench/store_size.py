"""memory and startup, measured on one forsund per store size (mem store, default options):

1. start forsund on an empty store (exec → both ports accept: the empty start-up baseline),
   create and remove one plan (:func:`warm_up`) and read its RSS (``info`` ``mem_rss``);
2. bulk-create N plans over ``POST /v1/plans?reply=keys`` (20-character keys, two params,
   delay plans due a day later) and read the RSS again: memory per plan = (RSS - empty RSS) / N;
3. ``kill -9`` it, so the store is left as a snapshot plus a log to replay, and time a
   start (exec → serving, plan_count checked); warm it up as in 1 and read the RSS of the
   reloaded store;
4. stop it cleanly (the shutdown compaction leaves a snapshot only; that stop is timed
   too) and time another start.

Memory baseline: the payload itself (key and params text) per plan. Start-up baseline:
the empty store's start-up in the same run.
"""

from __future__ import annotations

import json
import time

from .context import Context
from .plans import IDLE_PARAMS, KEY_LENGTH, delay, key
from .report import Goal, Row
from .target import Forsund

MEMORY_GOAL = Goal.at_most(250, " B")
STARTUP_GOAL = Goal.at_most(30, " s")
#: The memory and start-up goals are stated for this many plans; smaller runs only inform.
GOAL_SIZE = 10**7
DAY = 86_400
#: Bytes of one plan's own data: its key and its params' names and values.
PAYLOAD = KEY_LENGTH + sum(len(name) + len(value) for name, value in IDLE_PARAMS.items())


def run(ctx: Context) -> None:
    for size in ctx.profile.store_sizes:
        measure(ctx, size)


def measure(ctx: Context, size: int) -> None:
    workdir = ctx.workdir(f"store-{size}")
    server = Forsund.start(workdir)
    empty_start = server.started_in
    cold_rss = int(server.target.info()["mem_rss"])
    prefix = f"{ctx.tag}m"
    warm_up(server, prefix)
    empty_rss = int(server.target.info()["mem_rss"])
    batch = ctx.profile.bulk_batch
    started = time.perf_counter()
    try:
        for start in range(0, size, batch):
            plans = [delay(key(prefix, i), DAY + i % 3600)
                     for i in range(start, min(start + batch, size))]
            server.target.request("POST", "/v1/plans?reply=keys", json.dumps(plans).encode())
        created_in = time.perf_counter() - started
        info = server.target.info()
    finally:
        server.kill()
    check_count(info, size)
    label = f"{size:,} plans"
    memory_goal, startup_goal = (MEMORY_GOAL, STARTUP_GOAL) if size >= GOAL_SIZE else (None, None)
    ctx.add(Row("memory", f"RSS per plan after bulk create, {label}",
                (int(info["mem_rss"]) - empty_rss) / size, "B", baseline="payload (key+params)",
                baseline_value=PAYLOAD, goal=memory_goal,
                note=f"empty server {cold_rss / 2**20:.0f} MiB, {empty_rss / 2**20:.0f} MiB "
                     f"once its first plan loaded the action; created over HTTP at "
                     f"{size / created_in:,.0f} plans/s"))

    server = Forsund.start(workdir)
    try:
        replay_start = server.started_in
        warm_up(server, prefix)
        reloaded = server.target.info()
        check_count(reloaded, size)
    finally:
        stop_seconds = server.stop()
    ctx.add(Row("memory", f"RSS per plan after restart, {label}",
                (int(reloaded["mem_rss"]) - empty_rss) / size, "B",
                baseline="payload (key+params)", baseline_value=PAYLOAD, goal=memory_goal,
                note="store loaded from snapshot + log"))
    ctx.add(Row("startup", f"exec → serving, {label} in snapshot + log (after kill -9)",
                replay_start, "s", baseline="empty store", baseline_value=empty_start,
                goal=startup_goal, note=f"clean stop (compaction) took {stop_seconds:.1f} s"))

    server = Forsund.start(workdir)
    try:
        check_count(server.target.info(), size)
    finally:
        server.stop()
    ctx.add(Row("startup", f"exec → serving, {label} in snapshot only (after a clean stop)",
                server.started_in, "s", baseline="empty store", baseline_value=empty_start,
                goal=startup_goal))


def warm_up(server: Forsund, prefix: str) -> None:
    """Create and remove one plan like the measured ones: the first plan of an action loads
    that action (the http action's client library, about 10 MiB), a cost per process that
    is not the plans' (it is paid again when a reloaded store fires its first plan)."""
    plan = delay(key(f"{prefix}w", 0), DAY)
    server.target.request("POST", "/v1/plans?reply=keys", json.dumps([plan]).encode())
    server.target.request("DELETE", f"/v1/plan?key={plan['key']}")


def check_count(info: dict[str, str], size: int) -> None:
    if int(info["plan_count"]) != size:
        raise RuntimeError(f"forsund holds {info['plan_count']} plans, expected {size}")
