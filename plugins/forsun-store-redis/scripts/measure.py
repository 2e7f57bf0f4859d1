"""Figures of the Redis store, each against a baseline measured in the same run.

    uv run python plugins/forsun-store-redis/scripts/measure.py [--plans 100000]
        [--port PORT --db DB]   # use that Redis instead of a private redis-server

- put_many throughput vs raw pipelined redis-py (HSET of the packed plan + ZADD of its due
  second per plan, 1000 commands per pipeline round trip); both encode the plans.
- claim throughput (batches of the engine's CLAIM_BATCH) and claim + reschedule + ack.
- Redis memory per plan: INFO used_memory before/after putting the plans, for the store
  and for the raw two-structure layout.

Without ``--port`` a private redis-server (no persistence) is started on a free port so
other clients cannot disturb the memory figures.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis

from forsun.engine import CLAIM_BATCH
from forsun.plan import Plan
from forsun.testing.options import make_options
from forsun_store_redis.codec import encode_plan
from forsun_store_redis.store import RedisStore

BASE = 1_700_000_000
RAW_PIPELINE = 1000


def make_plans(count: int) -> list[Plan]:
    """Delay plans spread over 1000 seconds, with an http action's params."""
    return [Plan(key=f"order:{i:09d}", second=30, is_time_out=True, count=1,
                 next_time=BASE + i % 1000, created_time=BASE - 30.5, action="http",
                 params={"url": f"http://127.0.0.1:8080/timeout?order={i}", "method": "post"})
            for i in range(count)]


@contextmanager
def private_redis() -> Iterator[int]:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed: pass --port of a running Redis")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save",
                                 "", "--appendonly", "no", "--dir", workdir],
                                stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


async def used_memory(client: aioredis.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def delete_matching(client: aioredis.Redis, pattern: str) -> None:
    keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
    if keys:
        await client.unlink(*keys)


async def raw_put(client: aioredis.Redis, prefix: str, plans: list[Plan]) -> None:
    plans_key, due_key = f"{{{prefix}}}:plans", f"{{{prefix}}}:due"
    pipe = client.pipeline(transaction=False)
    for index, plan in enumerate(plans, 1):
        pipe.hset(plans_key, plan.key, encode_plan(plan))
        pipe.zadd(due_key, {plan.key: plan.next_time})
        if index % (RAW_PIPELINE // 2) == 0:
            await pipe.execute()
    await pipe.execute()


async def measure(port: int, db: int, count: int) -> list[tuple[str, str, str]]:
    client = aioredis.Redis(port=port, db=db)
    plans = make_plans(count)
    rows = []
    raw_prefix, store_prefix = f"raw-{uuid.uuid4().hex[:8]}", f"bench-{uuid.uuid4().hex[:8]}"
    store = RedisStore(make_options(driver_redis_port=port, driver_redis_db=db,
                                    driver_redis_prefix=store_prefix))
    await store.open()
    try:
        before = await used_memory(client)
        start = time.perf_counter()
        await raw_put(client, raw_prefix, plans)
        raw_seconds = time.perf_counter() - start
        raw_bytes = (await used_memory(client) - before) / count

        before = await used_memory(client)
        start = time.perf_counter()
        await store.put_many(plans)
        store_seconds = time.perf_counter() - start
        store_bytes = (await used_memory(client) - before) / count
        assert await store.count() == count

        rows.append(("raw pipelined HSET+ZADD", f"{count / raw_seconds:,.0f} plans/s",
                     "baseline"))
        rows.append(("store put_many", f"{count / store_seconds:,.0f} plans/s",
                     f"{raw_seconds / store_seconds:.0%} of raw"))

        claimed = 0
        start = time.perf_counter()
        while batch := await store.claim(BASE + 1000, node="bench", limit=CLAIM_BATCH,
                                         lease_until=time.time() + 600):
            claimed += len(batch)
        claim_seconds = time.perf_counter() - start
        assert claimed == count
        rows.append((f"claim (batches of {CLAIM_BATCH})",
                     f"{count / claim_seconds:,.0f} plans/s", ""))

        await store.release("bench")
        cycle = min(count, 20_000)
        start = time.perf_counter()
        batch = await store.claim(BASE + 1000, node="bench", limit=cycle,
                                  lease_until=time.time() + 600)

        async def finish(plan: Plan) -> None:
            await store.reschedule(plan, None)
            await store.ack(plan)

        await asyncio.gather(*(finish(plan) for plan in batch))
        cycle_seconds = time.perf_counter() - start
        rows.append((f"claim + reschedule + ack ({cycle} plans, concurrent)",
                     f"{cycle / cycle_seconds:,.0f} plans/s", ""))

        rows.append(("Redis memory per plan, raw HSET+ZADD", f"{raw_bytes:,.0f} bytes",
                     "baseline"))
        rows.append(("Redis memory per plan, store", f"{store_bytes:,.0f} bytes",
                     f"{store_bytes / raw_bytes:.2f}x raw (adds the key index)"))
    finally:
        await delete_matching(client, f"{{{raw_prefix}}}:*")
        await delete_matching(client, f"{{{store_prefix}}}:*")
        await store.close()
        await client.aclose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plans", type=int, default=100_000)
    parser.add_argument("--port", type=int, help="a running Redis (default: private)")
    parser.add_argument("--db", type=int, default=0)
    args = parser.parse_args()
    if args.port:
        rows = asyncio.run(measure(args.port, args.db, args.plans))
        where = f"Redis 127.0.0.1:{args.port} db {args.db}"
    else:
        with private_redis() as port:
            rows = asyncio.run(measure(port, args.db, args.plans))
        where = "a private redis-server"
    print(f"forsun-store-redis, {args.plans:,} plans, {where}\n")
    print("| figure | value | vs baseline |\n| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
