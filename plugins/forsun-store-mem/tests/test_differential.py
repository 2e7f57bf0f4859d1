"""Random operation sequences on the mem store and on the core's ReferenceStore (the
contract written with dicts) must give the same answers, also across reopenings."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import attrs
import pytest

from forsun.errors import ForsunPlanError
from forsun.plan import Plan
from forsun.testing.fixtures import BASE_SECOND as T
from forsun.testing.fixtures import build_plan
from forsun.testing.reference import ReferenceStore

pytestmark = pytest.mark.asyncio

KEYS = ["a", "b", "ab", "abc", "b/1", "b/2", "b/10", "é", "日本", "z" * 30, "A"]
PREFIXES = ["", "a", "ab", "b/", "b/1", "é", "日", "x", "Z"]


async def outcome(call: Any) -> Any:
    try:
        return ("ok", await call)
    except ForsunPlanError as exc:
        return ("error", exc.code)


class Run:
    """Applies the same random operation to both stores and compares the answers."""

    def __init__(self, rng: random.Random, mine: Any, reference: ReferenceStore) -> None:
        self.rng = rng
        self.mine = mine
        self.reference = reference
        self.claimed: list[Plan] = []

    def plan(self) -> Plan:
        rng = self.rng
        key = rng.choice(KEYS)
        next_time = T + rng.randint(-3, 8)
        in_flight = {occ for occ in (p.occurrence() for p in self.claimed)}
        while (key, next_time) in in_flight:  # see test docstring: same occurrence re-put
            next_time += 1
        return build_plan(key, next_time, created_time=T + rng.choice([0.5, 1.5, 2.5]),
                          count=rng.randint(0, 3), params={"r": str(rng.random())})

    def lease(self) -> float:
        return time.time() + (600 if self.rng.random() < 0.8 else -60)

    async def step(self) -> None:
        rng = self.rng
        choice = rng.randrange(12)
        args: tuple[Any, ...]
        if choice == 0:
            name, args = "put", (self.plan(),)
        elif choice == 1:
            name, args = "put_many", ([self.plan() for _ in range(rng.randint(1, 4))],)
        elif choice == 2:
            name, args = "get", (rng.choice(KEYS),)
        elif choice == 3:
            name, args = "remove", (rng.choice(KEYS),)
        elif choice == 4:
            name, args = "keys", (rng.choice(PREFIXES),)
        elif choice == 5:
            start = T + rng.randint(-4, 8)
            name, args = "due", (start, start + rng.randint(0, 5))
        elif choice == 6:
            await self.claim()
            return
        elif choice == 7 and self.claimed:
            claimed = rng.choice(self.claimed)
            successor = None if rng.random() < 0.3 else attrs.evolve(
                claimed, next_time=claimed.next_time + rng.randint(1, 5),
                current_count=claimed.current_count + 1, last_timeout=claimed.next_time)
            name, args = "reschedule", (claimed, successor)
        elif choice == 8 and self.claimed:
            claimed = self.claimed.pop(rng.randrange(len(self.claimed)))
            name, args = "ack", (claimed,)
        elif choice == 9 and self.claimed:
            name, args = "extend_lease", (rng.choice(self.claimed), self.lease())
        elif choice == 10:
            name, args = "release", (rng.choice(["n1", "n2"]),)
        else:
            name, args = "set_checkpoint", (T + rng.randint(-5, 10),)
        mine = await outcome(getattr(self.mine, name)(*args))
        reference = await outcome(getattr(self.reference, name)(*args))
        assert mine == reference, f"{name}{args}"

    async def claim(self) -> None:
        up_to = T + self.rng.randint(-3, 10)
        node = self.rng.choice(["n1", "n2"])
        lease_until, limit = self.lease(), self.rng.randint(1, 6)
        mine = await self.mine.claim(up_to, node=node, lease_until=lease_until, limit=limit)
        reference = await self.reference.claim(up_to, node=node, lease_until=lease_until,
                                               limit=limit)
        assert mine == reference, f"claim({up_to}, {node}, {lease_until}, {limit})"
        self.claimed += mine

    async def compare(self) -> None:
        for name in ("keys", "count", "get_checkpoint"):
            assert await getattr(self.mine, name)() == await getattr(self.reference, name)()
        assert await self.mine.due(T - 100, T + 100) == await self.reference.due(T - 100,
                                                                                 T + 100)


@pytest.mark.parametrize("seed", range(6))
async def test_same_answers_as_the_reference_store(seed: int, db: Path, stores,
                                                   check_invariants) -> None:
    """Plans are never put for an occurrence that is in flight: the reference store would
    then return it twice in one claim, the mem store once (the contract does not say)."""
    rng = random.Random(seed)
    mine = await stores.open(db, driver_mem_store_fsync="no")
    run = Run(rng, mine, ReferenceStore())
    for step in range(400):
        await run.step()
        if step % 50 == 49:
            await run.compare()
            check_invariants(mine.table)
        if step % 130 == 129:
            await stores.close(mine)
            run.mine = mine = await stores.open(db, driver_mem_store_fsync="no")
    await run.compare()
