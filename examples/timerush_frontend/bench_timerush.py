"""timerush's published benchmark, run against forsun with the timerush front end.

timerush registered 10 000 timers spread over 1-60 s and counted how late each callback
arrived, in whole seconds behind the due second ("0" = within the due second); it reported
45.8 % within the due second. This script does the same over the timerush protocol:

1. starts a ``forsund`` child (mem store, ``--timerush-listen`` on a free port);
2. starts a callback receiver in its own process (so registering does not delay it), which
   notes the arrival time of every notification and its ``X-FORSUN-TIMESTAMP`` (due second);
3. registers ``--timers`` timers with ``seconds`` uniform in 1..``--spread`` through
   ``POST /register/`` (``--concurrency`` requests in flight, as timerush's client did);
4. waits until every timer was notified (or its due second plus ``--grace`` passed) and
   prints a markdown table: lateness p50/p99/max behind the due second and the fraction
   within the due second, for all timers and split into those due while the client was still
   registering (forsund then serves both) and those due after; missing, duplicate, early and
   misscheduled notifications; forsund's own lateness of starting the actions; and timerush's
   table of whole seconds late.

A notification is *misscheduled* when its due second is not ``seconds`` after the second in
which the client sent the request (or received the answer). Lateness is measured when the
callback arrives, as timerush measured it.

    uv run python examples/timerush_frontend/bench_timerush.py --timers 10000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import multiprocessing
import random
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from multiprocessing.synchronize import Event
from pathlib import Path

import aiohttp
import attrs
from aiohttp import web

from forsun.testing.process import ForsundProcess, start_forsund
from forsun.testing.services import free_port, reachable

#: timerush's figure for 10 000 timers over 1-60 s on one node.
TIMERUSH_WITHIN_DUE_SECOND = 0.458


@attrs.define
class Registered:
    seconds: int
    sent: float
    answered: float


@attrs.frozen
class Arrival:
    key: str
    due: int
    at: float


# -- the receiver (its own process) ---------------------------------------------------------


def run_receiver(port: int, out_path: str, ready: Event, stop: Event, count) -> None:
    """Answer every request on ``port`` until ``stop`` (as a callback); then write the arrivals as
    JSON lines ``[key, due, arrival time]`` to ``out_path``."""
    asyncio.run(_receive(port, Path(out_path), ready, stop, count))


async def _receive(port: int, out_path: Path, ready: Event, stop: Event, count) -> None:
    arrivals: list[tuple[str, int, float]] = []

    async def callback(request: web.Request) -> web.Response:
        at = time.time()
        await request.read()
        arrivals.append((request.headers["X-FORSUN-KEY"],
                         int(request.headers["X-FORSUN-TIMESTAMP"]), at))
        with count.get_lock():
            count.value += 1
        return web.json_response({"ret": 0})

    # aiohttp's low-level server (no application, router or middlewares): the lighter the
    # receiver, the less it adds to the lateness it measures.
    runner = web.ServerRunner(web.Server(callback, access_log=None))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.1)
    await runner.cleanup()
    out_path.write_text("".join(json.dumps(arrival) + "\n" for arrival in arrivals))


# -- forsund and the client -------------------------------------------------------------------


def start_daemon(workdir: Path, timerush_port: int, extra: Sequence[str]) -> ForsundProcess:
    daemon = start_forsund(["--driver-mem-store-file", str(workdir / "db"),
                            "--timerush-listen", f"127.0.0.1:{timerush_port}",
                            "--log-level", "WARNING", *extra], workdir=workdir)
    deadline = time.monotonic() + 20
    while not reachable("127.0.0.1", timerush_port, 0.2):
        if daemon.proc.poll() is not None or time.monotonic() > deadline:
            daemon.kill()
            raise RuntimeError(f"the timerush front end did not start:\n{daemon.log_text()}")
        time.sleep(0.05)
    return daemon


async def register_all(base: str, callback_url: str, seconds: Sequence[int],
                       concurrency: int) -> dict[str, Registered]:
    """Register one timer per entry of ``seconds``; their keys and send/answer times."""
    registered: dict[str, Registered] = {}
    pending = collections.deque(enumerate(seconds))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while pending:
                index, delay = pending.popleft()
                body = {"callback_cmd": callback_url, "seconds": delay,
                        "callback_data": json.dumps({"i": index, "seconds": delay})}
                sent = time.time()
                async with session.post(f"{base}/register/", data=json.dumps(body)) as answer:
                    reply = json.loads(await answer.read())
                if reply.get("ret") != 0:
                    raise RuntimeError(f"register refused: {reply}")
                registered[reply["data"]["key"]] = Registered(delay, sent, time.time())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return registered


def engine_lateness(daemon: ForsundProcess) -> tuple[str, str]:
    """forsund's own p50/p99 lateness (ms) of starting the actions, from its info."""
    with urllib.request.urlopen(f"{daemon.http_url}/v1/info", timeout=10) as answer:
        info = json.loads(answer.read())["data"]
    return info["lateness_p50_ms"], info["lateness_p99_ms"]


# -- figures ----------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, math.ceil(fraction * len(sorted_values)) - 1)
    return sorted_values[max(0, index)]


def _row(name: str, arrivals: Sequence[Arrival]) -> str:
    if not arrivals:
        return f"| {name} | 0 | - | - | - | - |"
    lateness = sorted(arrival.at - arrival.due for arrival in arrivals)
    within = sum(1 for arrival in arrivals if math.floor(arrival.at) == arrival.due)
    return (f"| {name} | {len(arrivals)} | {within / len(arrivals):.1%} | "
            f"{percentile(lateness, 0.5) * 1000:.1f} ms | "
            f"{percentile(lateness, 0.99) * 1000:.1f} ms | "
            f"{percentile(lateness, 1.0) * 1000:.1f} ms |")


def report(registered: dict[str, Registered], arrivals: list[Arrival], spread: int,
           register_seconds: float, engine: tuple[str, str]) -> str:
    """The markdown report: lateness of every timer's first notification, also split by
    whether it came due while the client was still registering (forsund then also serves
    the registrations) or after."""
    first: dict[str, Arrival] = {}
    duplicates = 0
    for arrival in arrivals:
        if arrival.key in first:
            duplicates += 1
        else:
            first[arrival.key] = arrival
    notified = [first[key] for key in registered if key in first]
    total = len(registered)
    within = sum(1 for arrival in notified if math.floor(arrival.at) == arrival.due)
    early = sum(1 for arrival in notified if arrival.at < arrival.due)
    misscheduled = sum(
        1 for arrival in notified
        if not (math.floor(registered[arrival.key].sent) + registered[arrival.key].seconds
                <= arrival.due
                <= math.floor(registered[arrival.key].answered)
                + registered[arrival.key].seconds))
    registering_until = max(r.answered for r in registered.values())
    whole_seconds = collections.Counter(max(0, math.floor(arrival.at) - arrival.due)
                                        for arrival in notified)
    lines = [
        f"### timerush benchmark on forsun: {total} timers spread over 1-{spread} s",
        "",
        f"Registered in {register_seconds:.1f} s over the timerush protocol. Lateness: when "
        "the callback arrives, behind its due second.",
        "",
        f"Within the due second: **{within / total:.1%}** of all timers (timerush: "
        f"{TIMERUSH_WITHIN_DUE_SECOND:.1%}). Missing {total - len(notified)}, duplicate "
        f"{duplicates}, early {early}, misscheduled {misscheduled}.",
        "",
        "| timers due | notified | within the due second | lateness p50 | p99 | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        _row("all", notified),
        _row("due while registering", [a for a in notified if a.due < registering_until]),
        _row("due after registering", [a for a in notified if a.due >= registering_until]),
        "",
        f"forsund's own figure for starting the actions (its last 10 000 firings): lateness "
        f"p50 {float(engine[0]):.1f} ms, p99 {float(engine[1]):.1f} ms; the rest is the HTTP "
        "round trip to the callback.",
        "",
        "As timerush tabulated it (whole seconds late):",
        "",
        "| seconds late | timers | share |",
        "| ---: | ---: | ---: |",
    ]
    lines += [f"| {late} | {n} | {n / total:.1%} |" for late, n in sorted(whole_seconds.items())]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--spread", type=int, default=60,
                        help="seconds of each timer are uniform in 1..SPREAD (default 60)")
    parser.add_argument("--concurrency", type=int, default=200,
                        help="register requests in flight (timerush's client used 200)")
    parser.add_argument("--grace", type=float, default=15.0,
                        help="seconds to wait for stragglers after the last due second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("forsund_args", nargs="*", metavar="-- FORSUND_ARG",
                        help="further forsund options, e.g. -- --timerush-max-clients 256")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seconds = [rng.randint(1, args.spread) for _ in range(args.timers)]

    with tempfile.TemporaryDirectory(prefix="bench-timerush-") as tmp:
        workdir = Path(tmp)
        context = multiprocessing.get_context("spawn")
        ready, stop, count = context.Event(), context.Event(), context.Value("i", 0)
        receiver_port = free_port()
        receiver = context.Process(target=run_receiver, daemon=True, args=(
            receiver_port, str(workdir / "arrivals.jsonl"), ready, stop, count))
        receiver.start()
        if not ready.wait(30):
            raise RuntimeError("the callback receiver did not start")
        timerush_port = free_port()
        daemon = start_daemon(workdir, timerush_port, args.forsund_args)
        try:
            started = time.time()
            registered = asyncio.run(register_all(
                f"http://127.0.0.1:{timerush_port}",
                f"http://127.0.0.1:{receiver_port}/callback/", seconds, args.concurrency))
            register_seconds = time.time() - started
            deadline = max(r.answered + r.seconds for r in registered.values()) + args.grace
            while count.value < len(registered) and time.time() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)  # let duplicates, if any, arrive
            engine = engine_lateness(daemon)
        finally:
            daemon.stop()
            stop.set()
            receiver.join(30)
        arrivals = [Arrival(*json.loads(line)) for line in
                    (workdir / "arrivals.jsonl").read_text().splitlines()]
    print(report(registered, arrivals, args.spread, register_seconds, engine))


if __name__ == "__main__":
    main()
