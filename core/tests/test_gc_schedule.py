"""forsund's schedule of full garbage collections (forsun.gc_schedule)."""

from __future__ import annotations

import asyncio
import contextlib
import gc

import pytest

from forsun.gc_schedule import NEVER, Collector, pause_young, resume_young


@pytest.mark.parametrize(("now", "interval", "expected"), [
    (100.0, 60, 60.5), (100.2, 60, 60.3), (100.5, 60, 60.0), (100.7, 60, 60.8),
    (100.9, 0.2, 0.6), (100.1, 0.2, 0.4),
])
def test_the_next_collection_is_mid_second_at_least_an_interval_away(now, interval, expected):
    collector = Collector(interval, clock=lambda: now)
    delay = collector.delay()
    assert delay == pytest.approx(expected)
    assert delay >= interval and (now + delay) % 1.0 == pytest.approx(0.5)


@contextlib.asynccontextmanager
async def started(interval: float):
    """A started :class:`Collector`, stopped and its freeze undone afterwards."""
    collector = Collector(interval)
    try:
        collector.start()
        assert gc.get_freeze_count() > 0
        yield collector
    finally:
        await collector.stop()
        gc.unfreeze()


async def test_full_collections_run_on_schedule_only_while_started():
    before = gc.get_threshold()
    async with started(0.2) as collector:
        assert gc.get_threshold()[2] == NEVER
        assert gc.get_threshold()[:2] == before[:2]
        for _ in range(30):
            if collector.collections:
                break
            await asyncio.sleep(0.1)
        assert collector.collections >= 1 and collector.last_pause > 0
    assert gc.get_threshold() == before


async def test_interval_0_only_freezes():
    before = gc.get_threshold()
    async with started(0):
        assert gc.get_threshold() == before


def test_young_pauses_nest_and_restore_the_state_before():
    assert gc.isenabled()
    pause_young()
    pause_young()
    assert not gc.isenabled()
    resume_young()
    assert not gc.isenabled()
    resume_young()
    assert gc.isenabled()
    gc.disable()
    try:
        pause_young()
        resume_young()
        assert not gc.isenabled(), "collections were off before the pause"
    finally:
        gc.enable()
