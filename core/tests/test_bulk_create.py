"""Bulk creation (``Service.create_many``) in slices: concurrent writes of the same keys,
reads of a batch half stored, and errors naming the plan, on the real mem store."""

from __future__ import annotations

import asyncio
import random

import pytest

from forsun.errors import ErrorCode, ForsunPlanError
from forsun.pacing import Pacer
from forsun.plan import Plan
from forsun.plugins import get_plugin_manager
from forsun.service import STORE_STEP, Service
from forsun.testing.options import make_options


@pytest.fixture
async def service(tmp_path):
    service = Service(make_options(driver_mem_store_file=str(tmp_path / "db"), port=0,
                                   bind="127.0.0.1", http=""),
                      get_plugin_manager(block=["frontend_thrift", "frontend_http"]))
    service.pacer = Pacer(slice_seconds=0.0)  # a pause at every step: the most interleaving
    await service.start()
    yield service
    await service.stop()


def plan(key: str, writer: str) -> Plan:
    return Plan(key=key, second=3600, is_time_out=True, count=1, action="shell",
                params={"cmd": "true", "writer": writer})


async def writer_of(service: Service, key: str) -> str | None:
    try:
        return (await service.get(key)).params["writer"]
    except ForsunPlanError:
        return None


async def test_the_last_write_of_a_key_wins_between_slices(service):
    """Two bulk creations of the same keys and single creates of some of them, all at once.
    Each single create notes whether the bulk's write of its key was already visible: if
    it was, the single create is the later write and must stay; if not, the bulk writes the
    key later and must win. Meanwhile a batch is seen half stored."""
    keys = [f"k{index:05d}" for index in range(3 * STORE_STEP)]
    only_second = [f"s{index:05d}" for index in range(3 * STORE_STEP)]
    rng = random.Random(8)
    expected: dict[str, str] = {}
    half_seen = False

    async def singles() -> None:
        nonlocal half_seen
        for key in rng.sample(only_second, 200):
            await asyncio.sleep(0)
            bulk_was_there = await writer_of(service, key) == "bulk2"
            await service.create(plan(key, "single"))
            expected[key] = "single" if bulk_was_there else "bulk2"
            seen = {await writer_of(service, only_second[0]),
                    await writer_of(service, only_second[-1])}
            half_seen |= seen == {"bulk2", "single"} or seen == {"bulk2", None}

    await asyncio.gather(
        service.create_many([plan(key, "bulk1") for key in keys]),
        service.create_many([plan(key, "bulk2") for key in keys + only_second]),
        singles())
    assert set(expected.values()) == {"single", "bulk2"}, "the writes did not interleave"
    for key, writer in expected.items():
        assert await writer_of(service, key) == writer, key
    assert {await writer_of(service, key) for key in keys} <= {"bulk1", "bulk2"}
    assert half_seen, "no read saw a batch half stored (the test did not interleave)"
    assert await service.store.count() == len(keys) + len(only_second)


async def test_a_refused_plan_is_named_by_the_label_and_nothing_is_stored(service):
    plans = [plan(f"r{index}", "bulk") for index in range(2 * STORE_STEP)]
    plans[1500].second = 99_999
    with pytest.raises(ForsunPlanError) as refused:
        await service.create_many(plans, label=lambda index: f"line {index + 1}")
    assert refused.value.code == ErrorCode.STORE_FAILED
    assert refused.value.message.startswith("line 1501: second:")
    assert await service.store.count() == 0
