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
import math
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
#: Rounds of Thrift calls per figure, the median kept (one round's CPU per call moves by
#: up to 1.5x on a shared machine).
THRIFT_ROUNDS = 3
DELAY_SECONDS = 3600
JSON, CRONTAB = "application/json", "application/crontab"
PUT_FIGURE = f"HTTP PUT /v1/plan, {HTTP_CONCURRENCY} in flight"
#: Goals on forsund's server CPU per call against the original's (issue 26).
CPU_GOALS = {"Thrift createTimeout, 1 connection": Goal("≤ 1/3", lambda ratio: ratio <= 1 / 3),
             PUT_FIGURE: Goal("≤ 1/2", lambda ratio: ratio <= 1 / 2)}


def run(ctx: Context) -> None:
    bare_thrift = BareServer.start("thrift")
    bare_tornado = BareServer.start("tornado")
    try:
        bare = Target("bare", "127.0.0.1", bare_thrift.port, bare_tornado.port,
                      bare_thrift.proc.pid, bare_tornado.proc.pid)
        speeds: dict[str, dict[str, Speed]] = {}
        for target in ctx.targets():
            prefix = f"{ctx.tag}c"
            try:
                measure(ctx, target, bare, prefix, speeds)
            finally:
                if target is ctx.compare:
                    target.remove_prefix(prefix)
        if ctx.compare is not None:
            compare_rows(ctx, speeds, ctx.targets()[0].name, ctx.compare.name)
    finally:
        bare_thrift.close()
        bare_tornado.close()


def compare_rows(ctx: Context, speeds: dict[str, dict[str, Speed]], ours: str,
                 theirs: str) -> None:
    """Each figure both servers served, ours against theirs (the baseline): plans/s and
    server CPU per plan, with :data:`CPU_GOALS` on the ratio."""
    for figure, by_target in speeds.items():
        mine, other = by_target.get(ours), by_target.get(theirs)
        if mine is None or other is None:
            continue
        unit = "calls/s" if "ping" in figure else "plans/s"
        ctx.add(Row("create", figure, mine.rate, unit, target=f"{ours} vs {theirs}",
                    baseline=theirs, baseline_value=other.rate,
                    note="both measured in this run, same client"))
        if mine.cpu_us is not None and other.cpu_us is not None:
            ctx.add(Row("create", f"{figure}: server CPU per call", mine.cpu_us, "µs",
                        target=f"{ours} vs {theirs}", baseline=theirs,
                        baseline_value=other.cpu_us, ratio_goal=CPU_GOALS.get(figure),
                        note="CPU time of the server process (/proc/PID/task/*/schedstat) "
                             "over the timed calls, divided by the calls"))


def measure(ctx: Context, target: Target, bare: Target, prefix: str,
            speeds: dict[str, dict[str, Speed]]) -> None:
    profile = ctx.profile
    calls, batch, bulk = profile.create_calls, profile.bulk_batch, profile.bulk_plans

    def add(figure: str, unit: str, speed: Callable[[Target], Speed], baseline: str,
            note: str = "") -> None:
        """Measure ``speed`` on the target, then on the bare server: a row of plans/s and
        one of server CPU per call. A path the target does not serve (a compared server
        without ``POST /v1/plans``) gets a row without value."""
        ours, refused = served(lambda: speed(target))
        if ours is None:
            note = f"not served by this server ({refused})"
        else:
            speeds.setdefault(figure, {})[target.name] = ours
        theirs = speed(bare)
        ctx.add(Row("create", figure, ours.rate if ours else None, unit, target=target.name,
                    baseline=baseline, baseline_value=theirs.rate, note=note))
        if ours is not None and ours.cpu_us is not None:
            ctx.add(Row("create", f"{figure}: server CPU per call", ours.cpu_us, "µs",
                        target=target.name, baseline=baseline,
                        baseline_value=theirs.cpu_us))

    for threads in (1, THRIFT_THREADS):
        label = f"{threads} connection{'s' if threads > 1 else ''}"
        if threads == 1:
            add(f"Thrift ping, {label}", "calls/s",
                functools.partial(thrift_speed, calls=calls, threads=threads, call=ping),
                "bare thriftpy2 server")
        add(f"Thrift createTimeout, {label}", "plans/s",
            functools.partial(thrift_speed, calls=calls, threads=threads,
                              call=create_timeout(f"{prefix}t{threads}")),
            "bare thriftpy2 server (echo)",
            note=f"{calls:,} calls, {threads} thread(s); median of {THRIFT_ROUNDS} rounds")

    singles = [json.dumps(delay(key(f"{prefix}s", i), DELAY_SECONDS)).encode()
               for i in range(calls)]
    add(PUT_FIGURE, "plans/s", lambda server: asyncio.run(put_speed(server, singles)),
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
                value = median(s.rate for s in ours)
                low, high = min(s.rate for s in ours), max(s.rate for s in ours)
                note = f"{bulk:,} new plans per round, one request at a time; answers {answer}"
                if rounds > 1:
                    note += f"; median of {rounds} rounds ({low:,.0f}-{high:,.0f})"
            figure = f"HTTP POST {path}, {kind}"
            ctx.add(Row("create", figure, value, "plans/s", target=target.name,
                        baseline=baseline, baseline_value=median(s.rate for s in rates.bare),
                        goal=BULK_GOAL, note=note))
            cpu = [s.cpu_us for s in ours or () if s.cpu_us is not None]
            if cpu:
                ctx.add(Row("create", f"{figure}: server CPU per plan", median(cpu), "µs",
                            target=target.name, baseline=baseline,
                            baseline_value=median(s.cpu_us or math.nan for s in rates.bare),
                            note="median of the rounds"))


def served(speed: Callable[[], Speed]) -> tuple[Speed | None, str]:
    """``(speed(), "")``, or ``(None, why)`` when the target does not serve the route (a
    compared server without ``POST /v1/plans``, say)."""
    try:
        return speed(), ""
    except ApiError as exc:
        if exc.status not in (404, 405):
            raise
        return None, str(exc)


@attrs.frozen
class Speed:
    """``plans`` done in ``seconds``, and the CPU seconds the server process used meanwhile
    (None when the bench does not know the process)."""

    plans: int
    seconds: float
    cpu: float | None

    @property
    def rate(self) -> float:
        return self.plans / self.seconds

    @property
    def cpu_us(self) -> float | None:
        """Server CPU µs per plan."""
        return None if self.cpu is None else self.cpu / self.plans * 1e6


#: Pause before reading a server's CPU time (see :meth:`Clock.stop`).
SETTLE_SECONDS = 0.02


class Clock:
    """Wall-clock and server CPU time from :meth:`start` to :meth:`stop`."""

    def __init__(self, target: Target, port: str) -> None:
        self.target, self.port = target, port

    def start(self) -> None:
        self.cpu = self.target.cpu_seconds(self.port)
        self.began = time.perf_counter()

    def stop(self, plans: int) -> Speed:
        seconds = time.perf_counter() - self.began
        # A server thread still on a CPU has not had its last run added to schedstat (the
        # kernel adds it at the next tick or when the thread sleeps): the client has the
        # answer before then.
        # One bulk request of --quick then read 0 ns. Let it go back to its poll first.
        time.sleep(SETTLE_SECONDS)
        cpu = self.target.cpu_seconds(self.port)
        return Speed(plans, seconds, None if cpu is None or self.cpu is None
                     else cpu - self.cpu)


@attrs.frozen
class BulkRates:
    """Each round's speed; ``target`` is None when it does not serve the route."""

    target: list[Speed] | None
    bare: list[Speed]
    refused: str = ""


def bulk_rounds(target: Target, bare: Target, rounds: int, plans: int, path: str,
                content_type: str, bodies_for: Callable[[int], list[bytes]]) -> BulkRates:
    """``rounds`` bulk loads of ``plans`` new plans (``bodies_for(round)``, round 0 being a
    one-request warm-up) on the target and on the bare server, taking turns so both see
    the same moments of a noisy machine."""
    ours: list[Speed] | None = []
    theirs: list[Speed] = []
    refused = ""
    for round_ in range(rounds + 1):
        bodies = bodies_for(round_)
        count = plans
        if not round_:
            bodies, count = bodies[:1], 1  # the rate is not kept
        if ours is not None:
            speed, refused = served(functools.partial(bulk_speed, target, bodies, count,
                                                       content_type, path))
            if speed is None:
                ours = None
            elif round_:
                ours.append(speed)
        speed = bulk_speed(bare, bodies, count, content_type, path)
        if round_:
            theirs.append(speed)
    return BulkRates(ours, theirs, refused)


def ping(client: Client, index: int) -> None:
    client.ping()


def create_timeout(prefix: str) -> Callable[[Client, int], None]:
    def call(client: Client, index: int) -> None:
        client.create_timeout(key(prefix, index), DELAY_SECONDS, action="http",
                              params=IDLE_PARAMS)

    return call


def thrift_speed(target: Target, calls: int, threads: int,
                 call: Callable[[Client, int], None]) -> Speed:
    """``calls`` calls spread over ``threads`` threads sharing one client with as many
    connections (connections opened and warmed before the clock starts, and one call
    made first: a server's first create loads its action, ~0.5 s of CPU for the http
    action's client libraries), :data:`THRIFT_ROUNDS` times (each call with an index of
    its own, so creates never replace): the round of the median server CPU."""
    with target.client(threads) as client, concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: client.ping(), range(threads * 4)))
        call(client, -1)  # an index of its own

        def work(start: int, part: int) -> None:
            for index in range(start + part, start + calls, threads):
                call(client, index)

        rounds = []
        for start in range(0, THRIFT_ROUNDS * calls, calls):
            clock = Clock(target, "thrift")
            clock.start()
            list(pool.map(functools.partial(work, start), range(threads)))
            rounds.append(clock.stop(calls))
        return median_round(rounds)


def median_round(rounds: list[Speed]) -> Speed:
    """The round of the median server CPU (of the median time when the CPU is unknown)."""
    rounds = sorted(rounds, key=lambda speed: (speed.cpu or 0.0, speed.seconds))
    return rounds[len(rounds) // 2]


async def put_speed(target: Target, bodies: list[bytes]) -> Speed:
    """``PUT /v1/plan`` of each of ``bodies`` with :data:`HTTP_CONCURRENCY` in flight over
    keep-alive connections."""
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
        clock = Clock(target, "http")
        clock.start()
        await asyncio.gather(*(worker() for _ in range(HTTP_CONCURRENCY)))
        return clock.stop(len(bodies))


def bulk_speed(target: Target, bodies: list[bytes], plans: int, content_type: str,
               path: str = "/v1/plans") -> Speed:
    """``POST path`` of ``bodies`` (``plans`` in all), one at a time."""
    clock = Clock(target, "http")
    clock.start()
    for body in bodies:
        target.request("POST", path, body, content_type)
    return clock.stop(plans)
