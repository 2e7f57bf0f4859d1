"""redis: the Redis store against raw pipelined redis-py on the same server
(127.0.0.1:6379, database :data:`DB`, keys under ``{forsun-bench-TAG-...}``, all deleted at
the end).

- create: ``RedisStore.put_many`` in the bench process, and forsund with ``--driver redis``
  fed over ``POST /v1/plans``, each against raw pipelined ``HSET`` (packed plan) + ``ZADD``
  (due second) with :data:`RAW_PIPELINE` commands per round trip. Both encode the plans
  with :mod:`forsun_store_redis.codec`.
- firing: forsund on the Redis store fires ``redis_fire_plans`` plans due in one second with
  the ``noop`` action (time until ``action_executed_count`` counted them); baseline: a raw
  claim loop (``ZRANGEBYSCORE`` 5 000 due keys, ``HMGET`` and decode them, pipelined
  ``ZREM`` + ``HDEL``) over as many raw plans.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from typing import Any

from forsun.plan import Plan
from forsun.testing.services import reachable

from .burst import poll_executed
from .context import Context
from .delivery import create_in_time
from .plans import IDLE_PARAMS, delay, fixed, key
from .report import Goal, Row
from .target import Forsund, next_second

HOST, PORT = "127.0.0.1", 6379
#: The Redis database the bench writes to (and cleans).
DB = 13
RAW_PIPELINE = 1000
STORE_BATCH = 10_000
CLAIM_BATCH = 5_000
RATIO_GOAL = Goal.at_least(0.5)
DAY = 86_400


def run(ctx: Context) -> None:
    def measure(prefix: str) -> None:
        raw_put_rate, raw_claim_rate = asyncio.run(in_process(ctx, prefix))
        with_forsund(ctx, prefix, raw_put_rate, raw_claim_rate)

    run_on_redis(ctx, "redis", measure)


def run_on_redis(ctx: Context, scenario: str, measure: Callable[[str], None]) -> None:
    """``measure(prefix)`` with this run's key prefix, or a skipped row naming what is
    missing; every key under the prefix is deleted afterwards."""
    missing = why_not(ctx)
    if missing:
        ctx.add(Row(scenario, "skipped", None, "", note=missing))
        return
    prefix = f"forsun-bench-{ctx.tag}"
    try:
        measure(prefix)
    finally:
        asyncio.run(clean(prefix))


def why_not(ctx: Context) -> str:
    """Why the scenario cannot run here ("" when it can)."""
    if not reachable(HOST, PORT):
        return f"Redis is not reachable at {HOST}:{PORT}"
    try:
        import redis  # noqa: F401

        import forsun_store_redis  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (uv sync --all-packages)"
    return ""


def make_plans(prefix: str, count: int, due: int) -> list[Plan]:
    now = int(time.time())
    return [Plan(key=key(prefix, i), second=0, hour=24, is_time_out=True, count=1,
                 next_time=due + i % 3600, created_time=now, action="http",
                 params=dict(IDLE_PARAMS)) for i in range(count)]


async def raw_put(client: Any, prefix: str, plans: list[Plan]) -> float:
    """Seconds to put ``plans`` as raw HSET + ZADD, pipelined."""
    from forsun_store_redis.codec import encode_plan

    plans_key, due_key = f"{{{prefix}}}:plans", f"{{{prefix}}}:due"
    started = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for index, plan in enumerate(plans, 1):
        pipe.hset(plans_key, plan.key, encode_plan(plan))
        pipe.zadd(due_key, {plan.key: plan.next_time})
        if index % (RAW_PIPELINE // 2) == 0:
            await pipe.execute()
    await pipe.execute()
    return time.perf_counter() - started


async def raw_claim(client: Any, prefix: str, up_to: int) -> tuple[int, float]:
    """Claim every raw plan due up to ``up_to`` in batches; (plans, seconds)."""
    from forsun_store_redis.codec import decode_plan

    plans_key, due_key = f"{{{prefix}}}:plans", f"{{{prefix}}}:due"
    claimed = 0
    started = time.perf_counter()
    while keys := await client.zrangebyscore(due_key, "-inf", up_to, start=0,
                                             num=CLAIM_BATCH):
        records = await client.hmget(plans_key, keys)
        claimed += len([decode_plan(record) for record in records if record])
        pipe = client.pipeline(transaction=False)
        pipe.zrem(due_key, *keys)
        pipe.hdel(plans_key, *keys)
        await pipe.execute()
    return claimed, time.perf_counter() - started


async def in_process(ctx: Context, prefix: str) -> tuple[float, float]:
    """Measure the baselines and the store in this process; the raw put and claim rates."""
    import redis.asyncio as aioredis

    from forsun.testing.options import make_options
    from forsun_store_redis.store import RedisStore

    count, fire = ctx.profile.redis_plans, ctx.profile.redis_fire_plans
    client = aioredis.Redis(host=HOST, port=PORT, db=DB)
    store = RedisStore(make_options(driver_redis_host=HOST, driver_redis_port=PORT,
                                    driver_redis_db=DB, driver_redis_prefix=f"{prefix}-store"))
    await store.open()
    try:
        raw_seconds = await raw_put(client, f"{prefix}-raw", make_plans("r", count, DAY))
        plans = make_plans("s", count, int(time.time()) + DAY)
        started = time.perf_counter()
        for start in range(0, count, STORE_BATCH):
            await store.put_many(plans[start:start + STORE_BATCH])
        store_seconds = time.perf_counter() - started
        await raw_put(client, f"{prefix}-claim", make_plans("c", fire, 1))
        claimed, claim_seconds = await raw_claim(client, f"{prefix}-claim", int(time.time()))
    finally:
        await store.close()
        await client.aclose()
    if claimed != fire:
        raise RuntimeError(f"raw claim found {claimed} plans, expected {fire}")
    raw_put_rate = count / raw_seconds
    ctx.add(Row("redis", f"RedisStore.put_many in process, {count:,} plans", count / store_seconds,
                "plans/s", target="RedisStore", baseline="raw pipelined HSET+ZADD",
                baseline_value=raw_put_rate, ratio_goal=RATIO_GOAL,
                note=f"batches of {STORE_BATCH:,}; raw: {RAW_PIPELINE} commands per round "
                     "trip"))
    return raw_put_rate, fire / claim_seconds


def with_forsund(ctx: Context, prefix: str, raw_put_rate: float,
                 raw_claim_rate: float) -> None:
    count, fire = ctx.profile.redis_plans, ctx.profile.redis_fire_plans
    batch = ctx.profile.bulk_batch
    server = Forsund.start(ctx.workdir("redis"), ["--driver", "redis",
                                                  "--driver-redis-host", HOST,
                                                  "--driver-redis-port", str(PORT),
                                                  "--driver-redis-db", str(DB),
                                                  "--driver-redis-prefix", f"{prefix}-forsund"],
                           noop=True)
    target = server.target
    try:
        bodies = [json.dumps([delay(key("h", i), DAY) for i in range(s, min(s + batch, count))])
                  .encode() for s in range(0, count, batch)]
        started = time.perf_counter()
        for body in bodies:
            target.request("POST", "/v1/plans?reply=keys", body)
        create_seconds = time.perf_counter() - started

        before = target.counter("action_executed_count")
        ctx.created(target, count, create_seconds)
        due = next_second(ctx.lead(target, fire))
        create_in_time(ctx, target, [fixed(key("f", i), due, "noop", {}) for i in range(fire)],
                       due)
        samples = poll_executed(target, before + fire, deadline=due + 300)
    finally:
        server.stop()
    last_time, last_count = samples[-1]
    all_fired = last_time - due if last_count >= before + fire else math.nan
    ctx.add(Row("redis", f"forsund --driver redis, HTTP POST /v1/plans, {count:,} plans",
                count / create_seconds, "plans/s", baseline="raw pipelined HSET+ZADD",
                baseline_value=raw_put_rate, ratio_goal=RATIO_GOAL,
                note=f"JSON arrays of {batch:,}, ?reply=keys; end to end (HTTP + JSON + "
                     "validation)"))
    ctx.add(Row("redis", f"forsund --driver redis, {fire:,} plans due in one second (noop): "
                         "firing rate", fire / all_fired, "plans/s",
                baseline="raw claim loop (ZRANGEBYSCORE+HMGET+ZREM+HDEL)",
                baseline_value=raw_claim_rate,
                note=f"all fired {all_fired:.2f} s after the due second"))


async def clean(prefix: str) -> None:
    """Delete every key of this run in :data:`DB`."""
    import redis.asyncio as aioredis

    client = aioredis.Redis(host=HOST, port=PORT, db=DB)
    try:
        keys = [name async for name in client.scan_iter(match=f"{{{prefix}-*", count=1000)]
        if keys:
            await client.unlink(*keys)
    finally:
        await client.aclose()
