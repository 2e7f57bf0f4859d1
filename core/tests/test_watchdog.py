"""The shared deadline of the engine's action workers (forsun.engine.watchdog), on virtual
time."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from forsun.engine.watchdog import Slot, Watchdog
from forsun.testing.clock import VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


async def run_calls(watchdog: Watchdog, slot: Slot, calls) -> list[str]:
    """Run each ``call`` armed, as the engine's worker does; record how each ended."""
    ends = []
    for call in calls:
        watchdog.arm(slot)
        try:
            await call()
            ends.append("done")
        except asyncio.CancelledError:
            if not watchdog.expired(slot):
                raise
            ends.append("timed out")
        finally:
            watchdog.disarm(slot)
    return ends


async def start(watchdog: Watchdog, calls) -> tuple[Slot, asyncio.Task[list[str]]]:
    slot = Slot()
    slot.task = asyncio.create_task(run_calls(watchdog, slot, calls))
    watchdog.slots.add(slot)
    return slot, slot.task


async def test_a_call_past_its_deadline_is_cancelled_within_an_interval(clock):
    watchdog = Watchdog(0.2, clock)
    watchdog.start()
    try:
        began = clock.monotonic()
        _, task = await start(watchdog, [lambda: clock.sleep(5), lambda: clock.sleep(0.05)])
        assert await clock.drive(task) == ["timed out", "done"]
        assert 0.2 <= clock.monotonic() - began < 0.2 + 2 * watchdog.interval + 0.2
        assert not task.cancelling(), "the deadline's cancellation was not withdrawn"
    finally:
        await watchdog.stop()


async def test_a_call_that_swallows_the_cancellation_leaves_the_slot_usable(clock):
    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # ignores cancellation: "done"
            await clock.sleep(5)

    watchdog = Watchdog(0.1, clock)
    watchdog.start()
    try:
        _, task = await start(watchdog, [stubborn, lambda: clock.sleep(5)])
        assert await clock.drive(task, timeout=3) == ["done", "timed out"]
    finally:
        await watchdog.stop()


async def test_a_cancellation_from_elsewhere_propagates(clock):
    watchdog = Watchdog(10, clock)
    watchdog.start()
    try:
        _, task = await start(watchdog, [lambda: clock.sleep(5)])
        await clock.advance(0.05)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("a stop's cancellation was taken for a deadline")
    finally:
        await watchdog.stop()
