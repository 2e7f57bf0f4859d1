"""The precision baseline: an "ideal timer" child process with no store and no engine.

It reads ``[[key, url, due second], ...]`` from a JSON file; 0.1 s before each due second it
builds the firings and has the action prepare them (as forsund's engine does for what it
claimed ahead), sleeps (wall clock) until that second and then has the http action
(:class:`forsun_action_http.HttpAction` with its default options, on forsund's event loop
and garbage collection schedule, :class:`forsun.gc_schedule.Collector`, young collections
paused from each due second until its requests are answered) send every request due
then. The receiver measures its lateness exactly as it measures forsund's, so the
difference between the two is what forsund's timer, store and engine add to the same HTTP
client on this machine.
Run as ``python -m bench.ideal FILE``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time

from forsun import Plan
from forsun.action import Firing
from forsun.commands.forsund import run_loop
from forsun.engine.workers import ACK_DELAY, ACK_POLL
from forsun.gc_schedule import Collector, pause_young, resume_young
from forsun.testing.options import make_options

#: Seconds before a due second at which its firings are built and prepared (forsund's
#: default ``--claim-ahead``).
PREPARE_AHEAD = 0.1


async def sleep_until(when: float) -> None:
    while (delay := when - time.time()) > 0:  # a loop may wake a little early
        await asyncio.sleep(delay)


async def resume_young_after(running: set[asyncio.Task[None]]) -> None:
    """:func:`~forsun.gc_schedule.resume_young` once ``running`` is empty, at most
    :data:`~forsun.engine.workers.ACK_DELAY` from now (the engine's rule)."""
    give_up = time.monotonic() + ACK_DELAY
    while running and time.monotonic() < give_up:
        await asyncio.sleep(ACK_POLL)
    resume_young()


async def fire_all(calls: list[tuple[str, str, int]]) -> None:
    from forsun_action_http.action import HttpAction

    action = HttpAction(make_options())

    def firing(key: str, url: str, due: int) -> Firing:
        params = {"url": url, "method": "GET"}
        plan = Plan(key=key, action="http", params=params, next_time=due)
        return Firing(key=key, ts=due, params=params, plan=plan)

    collector = Collector(make_options().gc_interval)  # forsund's garbage collections
    collector.start()
    running: set[asyncio.Task[None]] = set()
    resumes: list[asyncio.Task[None]] = []
    try:
        ordered = sorted(calls, key=lambda call: call[2])
        for due, group in itertools.groupby(ordered, key=lambda call: call[2]):
            await sleep_until(due - PREPARE_AHEAD)  # the firings of due - 1 go out meanwhile
            firings = [firing(key, url, due) for key, url, _ in group]
            for each in firings:  # as forsund's engine does for what it claimed ahead
                action.prepare(each.params)
            await sleep_until(due)
            pause_young()  # as forsund's engine does from a boundary until its firings end
            for each in firings:
                task = asyncio.create_task(action.execute(each))
                running.add(task)
                task.add_done_callback(running.discard)
            resumes.append(asyncio.create_task(resume_young_after(running)))
        await asyncio.gather(*running)
        await asyncio.gather(*resumes)
    finally:
        await collector.stop()
        await action.close()


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        run_loop(fire_all([(key, url, int(due)) for key, url, due in json.load(f)]))
