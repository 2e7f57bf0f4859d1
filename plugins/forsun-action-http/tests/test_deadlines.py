"""Shared request deadlines: enforced, never early, and cancellations from elsewhere pass."""

from __future__ import annotations

import asyncio
import time

import pytest

from forsun_action_http.deadlines import RESOLUTION, Deadlines


async def test_an_await_past_its_deadline_times_out_not_before_it():
    deadlines = Deadlines()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await deadlines.within(0.05, asyncio.sleep(5))
    waited = time.monotonic() - started
    assert 0.05 <= waited < 1.0
    assert asyncio.current_task().cancelling() == 0  # the cancellation was withdrawn


async def test_an_await_in_time_returns_and_leaves_no_timer_behind():
    deadlines = Deadlines()

    async def answer() -> int:
        await asyncio.sleep(0.01)
        return 42

    assert await deadlines.within(0.1, answer()) == 42
    await asyncio.sleep(0.1 + 2 * RESOLUTION)  # the bucket's timer fires over nobody
    assert deadlines._buckets == {}
    assert asyncio.current_task().cancelling() == 0


async def test_awaits_sharing_a_bucket_time_out_alone():
    deadlines = Deadlines()
    slow = asyncio.create_task(deadlines.within(0.05, asyncio.sleep(5)))
    quick = asyncio.create_task(deadlines.within(0.05, asyncio.sleep(0.01, "ok")))
    assert await quick == "ok"
    with pytest.raises(TimeoutError):
        await slow


async def test_a_cancellation_from_elsewhere_propagates():
    deadlines = Deadlines()
    task = asyncio.create_task(deadlines.within(5, asyncio.sleep(5)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_from_elsewhere_as_the_deadline_passes_still_propagates():
    deadlines = Deadlines()

    async def outer() -> None:
        await deadlines.within(0.02, asyncio.sleep(5))

    task = asyncio.create_task(outer())
    await asyncio.sleep(0)
    deadline = asyncio.get_running_loop().time() + 0.02 + RESOLUTION
    while asyncio.get_running_loop().time() < deadline:
        time.sleep(0.005)  # block the loop: the deadline and the cancel land together
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
