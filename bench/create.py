"""create: plans/s through every creation path, each next to a bare server doing the same
wire work without validation or a store (:mod:`bench.bare`):

- Thrift ``ping`` and ``createTimeout`` with :class:`forsun.client.Client`, 1 connection,
  and 4 connections used by 4 threads; baseline: the bare thriftpy2 server.
- HTTP ``PUT /v1/plan``, one plan per request, 16 requests in flight (aiohttp);
  baseline: the bare tornado handler echoing the JSON object.
- HTTP ``POST /v1/plans`` with a JSON array of ``bulk_batch`` plans, and with an
  ``application/crontab`` body of as many ``set`` lines, one request at a time; baselines:
  the bare tornado handler echoing the array / answering one key per line. Each row is the
  median of ``bulk_rounds`` rounds of ``bulk_plans`` new plans (new keys: creation, not
  replacement), after a warm-up round, target and baseline taking turns.

All plans are delay plans due in an hour (they never fire during the bench) with the http
action and two params. Against ``--compare`` they are removed afterwards.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import time
from collections.abc import Callable
from statistics import median

import attrs

from forsun.client import Client

from .bare import BareServer
from .context import Context
from .plans import IDLE_PARAMS, crontab_line, delay, key
from .report import Goal, Row
from .target import ApiError, Target

BULK_GOAL = Goal.at_least(100_000)
HTTP_CONCURRENCY = 16
THRIFT_THREADS = 4
DELAY_SECONDS = 3600
JSON, CRONTAB = "application/json", "application/crontab"


def run(ctx: Context) -> None:
    bare_thrift = BareServer.start("thrift")
    bare_tornado = BareServer.start("tornado")
    try:
        bare = Target("bare", "127.0.0.1", bare_thrift.port, bare_tornado.port)
        for target in ctx.targets():
            prefix = f"{ctx.tag}c"
            try:
                measure(ctx, target, bare, prefix)
            finally:
                if target is ctx.compare:
                    target.remove_prefix(prefix)
    finally:
        bare_thrift.close()
        bare_tornado.close()


def measure(ctx: Context, target: Target, bare: Target, prefix: str) -> None:
    profile = ctx.profile
    calls, batch, bulk = profile.create_calls, profile.bulk_batch, profile.bulk_plans

    def add(figure: str, unit: str, rate: Callable[[Target], float], baseline: str,
            goal: Goal | None = None, note: str = "") -> None:
        """Measure ``rate`` on the target, then on the bare server. A path the target does
        not serve (a compared server without ``POST /v1/plans``) gets a row without value."""
        ours, refused = served(lambda: rate(target))
        if ours is None:
            note = f"not served by this server ({refused})"
        ctx.add(Row("create", figure, ours, unit, target=target.name, baseline=baseline,
                    baseline_value=rate(bare), goal=goal, note=note))

    for threads in (1, THRIFT_THREADS):
        label = f"{threads} connection{'s' if threads > 1 else ''}"
        if threads == 1:
            add(f"Thrift ping, {label}", "calls/s",
                functools.partial(thrift_rate, calls=calls, threads=threads, call=ping),
                "bare thriftpy2 server")
        add(f"Thrift createTimeout, {label}", "plans/s",
            functools.partial(thrift_rate, calls=calls, threads=threads,
                              call=create_timeout(f"{prefix}t{threads}")),
            "bare thriftpy2 server (echo)", note=f"{calls:,} calls, {threads} thread(s)")

    singles = [json.dumps(delay(key(f"{prefix}s", i), DELAY_SECONDS)).encode()
               for i in range(calls)]
    add(f"HTTP PUT /v1/plan, {HTTP_CONCURRENCY} in flight", "plans/s",
        lambda server: asyncio.run(put_rate(server, singles)),
        "bare tornado handler (JSON echo)", note=f"{calls:,} requests")

    def json_bodies(tag: str) -> list[bytes]:
        return [json.dumps([delay(key(tag, i), DELAY_SECONDS)
                            for i in range(start, min(start + batch, bulk))]).encode()
                for start in range(0, bulk, batch)]

    def crontab_bodies(tag: str) -> list[bytes]:
        return ["\n".join(crontab_line(key(tag, i), DELAY_SECONDS // 60)
                           for i in range(start, min(start + batch, bulk))).encode()
                for start in range(0, bulk, batch)]

    rounds = profile.bulk_rounds
    for reply, answer in (("plans", "every plan"), ("keys", "the keys only")):
        path = "/v1/plans" if reply == "plans" else f"/v1/plans?reply={reply}"
        for kind, bodies_for, content_type, baseline in (
                (f"JSON arrays of {batch:,}", json_bodies, JSON,
                 "bare tornado handler (JSON echo)"),
                (f"application/crontab, {batch:,} lines", crontab_bodies, CRONTAB,
                 "bare tornado handler (line split)")):
            tag = f"{prefix}{reply[0]}{'j' if content_type == JSON else 'k'}"
            rates = bulk_rounds(target, bare, rounds, bulk, path, content_type,
                                lambda r, tag=tag, make=bodies_for: make(f"{tag}{r}"))
            ours = rates.target
            if ours is None:
                value, note = None, f"not served by this server ({rates.refused})"
            else:
                value = median(ours)
                note = f"{bulk:,} new plans per round, one request at a time; answers {answer}"
                if rounds > 1:
                    note += f"; median of {rounds} rounds ({min(ours):,.0f}-{max(ours):,.0f})"
            ctx.add(Row("create", f"HTTP POST {path}, {kind}", value, "plans/s",
                        target=target.name, baseline=baseline,
                        baseline_value=median(rates.bare), goal=BULK_GOAL, note=note))


def served(rate: Callable[[], float]) -> tuple[float | None, str]:
    """``(rate(), "")``, or ``(None, why)`` when the target does not serve the route (a
    compared server without ``POST /v1/plans``, say)."""
    try:
        return rate(), ""
    except ApiError as exc:
        if exc.status not in (404, 405):
            raise
        return None, str(exc)


@attrs.frozen
class BulkRates:
    """Plans/s of each round; ``target`` is None when it does not serve the route."""

    target: list[float] | None
    bare: list[float]
    refused: str = ""


def bulk_rounds(target: Target, bare: Target, rounds: int, plans: int, path: str,
                content_type: str, bodies_for: Callable[[int], list[bytes]]) -> BulkRates:
    """``rounds`` bulk loads of ``plans`` new plans (``bodies_for(round)``, round 0 being a
    one-request warm-up) on the target and on the bare server, taking turns so both see
    the same moments of a noisy machine."""
    ours: list[float] | None = []
    theirs: list[float] = []
    refused = ""
    for round_ in range(rounds + 1):
        bodies = bodies_for(round_)
        count = plans
        if not round_:
            bodies, count = bodies[:1], 1  # the rate is not kept
        if ours is not None:
            rate, refused = served(functools.partial(bulk_rate, target, bodies, count,
                                                      content_type, path))
            if rate is None:
                ours = None
            elif round_:
                ours.append(rate)
        rate = bulk_rate(bare, bodies, count, content_type, path)
        if round_:
            theirs.append(rate)
    return BulkRates(ours, theirs, refused)


def ping(client: Client, index: int) -> None:
    client.ping()


def create_timeout(prefix: str) -> Callable[[Client, int], None]:
    def call(client: Client, index: int) -> None:
        client.create_timeout(key(prefix, index), DELAY_SECONDS, action="http",
                              params=IDLE_PARAMS)

    return call


def thrift_rate(target: Target, calls: int, threads: int,
                call: Callable[[Client, int], None]) -> float:
    """Calls/s of ``calls`` calls spread over ``threads`` threads sharing one client with
    as many connections (connections opened and warmed before the clock starts)."""
    with target.client(threads) as client, concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: client.ping(), range(threads * 4)))

        def work(part: int) -> None:
            for index in range(part, calls, threads):
                call(client, index)

        started = time.perf_counter()
        list(pool.map(work, range(threads)))
        return calls / (time.perf_counter() - started)


async def put_rate(target: Target, bodies: list[bytes]) -> float:
    """Requests/s of ``PUT /v1/plan`` for ``bodies`` with :data:`HTTP_CONCURRENCY` in
    flight over keep-alive connections."""
    import aiohttp

    url = f"http://{target.host}:{target.http_port}/v1/plan"
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=HTTP_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def put(body: bytes) -> None:
            async with session.put(url, data=body, headers=headers) as response:
                reply = json.loads(await response.read())
                if reply.get("errcode") != 0:
                    raise RuntimeError(f"PUT /v1/plan: {reply}")

        pending = iter(bodies)

        async def worker() -> None:
            for body in pending:
                await put(body)

        await asyncio.gather(*(put(bodies[0]) for _ in range(HTTP_CONCURRENCY)))
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(HTTP_CONCURRENCY)))
        return len(bodies) / (time.perf_counter() - started)


def bulk_rate(target: Target, bodies: list[bytes], plans: int, content_type: str,
              path: str = "/v1/plans") -> float:
    """Plans/s of ``POST path`` for ``bodies`` (``plans`` in all), one at a time."""
    started = time.perf_counter()
    for body in bodies:
        target.request("POST", path, body, content_type)
    return plans / (time.perf_counter() - started)
