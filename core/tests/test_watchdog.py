"""The shared deadline of the engine's action workers (forsun.watchdog)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from forsun.watchdog import Slot, Watchdog


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


async def test_a_call_past_its_deadline_is_cancelled_within_an_interval():
    watchdog = Watchdog(0.2)
    watchdog.start()
    try:
        began = time.monotonic()
        _, task = await start(watchdog, [lambda: asyncio.sleep(5), lambda: asyncio.sleep(0.05)])
        assert await task == ["timed out", "done"]
        assert 0.2 <= time.monotonic() - began < 0.2 + 2 * watchdog.interval + 0.2
        assert not task.cancelling(), "the deadline's cancellation was not withdrawn"
    finally:
        await watchdog.stop()


async def test_a_call_that_swallows_the_cancellation_leaves_the_slot_usable():
    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # ignores cancellation: "done"
            await asyncio.sleep(5)

    watchdog = Watchdog(0.1)
    watchdog.start()
    try:
        _, task = await start(watchdog, [stubborn, lambda: asyncio.sleep(5)])
        assert await asyncio.wait_for(task, 3) == ["done", "timed out"]
    finally:
        await watchdog.stop()


async def test_a_cancellation_from_elsewhere_propagates():
    watchdog = Watchdog(10)
    watchdog.start()
    try:
        _, task = await start(watchdog, [lambda: asyncio.sleep(5)])
        await asyncio.sleep(0.05)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("a stop's cancellation was taken for a deadline")
    finally:
        await watchdog.stop()
