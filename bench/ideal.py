"""The precision baseline: an "ideal timer" child process with no store and no engine.

It reads ``[[url, due second], ...]`` from a JSON file, sleeps (asyncio, wall clock) until
each due second and then requests every URL due then, through one keep-alive aiohttp
session with at most 64 requests in flight (the http action's default). The receiver
measures its lateness exactly as it measures forsund's, so the difference between the two
is what forsund adds on top of this machine's scheduling and HTTP delivery noise.
Run as ``python -m bench.ideal FILE``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time

MAX_IN_FLIGHT = 64


async def fire_all(calls: list[tuple[str, int]]) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def call(url: str, due: int) -> None:
            headers = {"X-FORSUN-TIMESTAMP": str(due)}
            async with session.get(url, headers=headers) as response:
                await response.read()

        tasks = []
        ordered = sorted(calls, key=lambda call: call[1])
        for due, group in itertools.groupby(ordered, key=lambda call: call[1]):
            while (delay := due - time.time()) > 0:  # asyncio may wake a little early
                await asyncio.sleep(delay)
            tasks += [asyncio.create_task(call(url, due)) for url, _ in group]
        await asyncio.gather(*tasks)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        asyncio.run(fire_all([(url, int(due)) for url, due in json.load(f)]))
