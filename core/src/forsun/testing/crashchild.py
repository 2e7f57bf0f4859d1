"""The child of the conformance crash test: ``python -m forsun.testing.crashchild FACTORY``.

``FACTORY`` is a :class:`~forsun.testing.factory.StoreFactory` as JSON. The child opens
that store, prints ``open``, then writes plans until it is killed, alternating ``put`` of
one plan and ``put_many`` of three. Once a write returns it prints ``ack KEY`` for each
key written, then sets the checkpoint and prints ``checkpoint SECOND``: every line the
parent read was acknowledged by the store before it was printed.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import sys

from ..plan import Plan
from .factory import StoreFactory
from .fixtures import BASE_SECOND, build_plan


def crash_plan(index: int) -> Plan:
    """The ``index``-th plan the child writes (about 2 KB of params, some non-ASCII)."""
    key = f"crash/{index:07d}"
    blob = hashlib.sha256(key.encode()).hexdigest() * 32
    return build_plan(key, BASE_SECOND + index,
                      params={"index": str(index), "blob": blob, "text": "déjà ✓"})


def crash_index(key: str) -> int:
    """Inverse of :func:`crash_plan` on keys."""
    return int(key.removeprefix("crash/"))


async def write_until_killed(factory: StoreFactory) -> None:
    store = factory.build()
    await store.open()
    print("open", flush=True)
    index = 0
    for round_number in itertools.count():
        batch_size = 1 if round_number % 2 == 0 else 3
        batch = [crash_plan(index + offset) for offset in range(batch_size)]
        if batch_size == 1:
            await store.put(batch[0])
        else:
            await store.put_many(batch)
        print("\n".join(f"ack {plan.key}" for plan in batch), flush=True)
        index += batch_size
        await store.set_checkpoint(BASE_SECOND + index)
        print(f"checkpoint {BASE_SECOND + index}", flush=True)


if __name__ == "__main__":
    asyncio.run(write_until_killed(StoreFactory.from_json(sys.argv[1])))
