"""fsync policies, group commit, and SIGKILL of a writer in the middle of compactions."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forsun.testing.fixtures import BASE_SECOND as T
from forsun.testing.fixtures import build_plan

pytestmark = pytest.mark.asyncio


async def test_always_fsyncs_before_a_put_returns(db: Path, stores) -> None:
    store = await stores.open(db, driver_mem_store_fsync="always")
    writer = store.journal.writer
    for i in range(5):
        before = writer.fsyncs
        await store.put(build_plan(f"k{i}", T))
        assert writer.fsyncs == before + 1
        assert writer.synced == writer.appended
    await store.remove("k0")
    assert writer.synced == writer.appended


async def test_always_shares_one_fsync_between_concurrent_puts(db: Path, stores) -> None:
    store = await stores.open(db, driver_mem_store_fsync="always")
    writer = store.journal.writer
    before = writer.fsyncs
    await asyncio.gather(*(store.put(build_plan(f"k{i:03d}", T)) for i in range(200)))
    assert writer.synced == writer.appended
    assert 1 <= writer.fsyncs - before < 200 / 4, "no group commit"
    assert await store.count() == 200


async def test_everysec_fsyncs_within_about_a_second(db: Path, stores) -> None:
    store = await stores.open(db, driver_mem_store_fsync="everysec")
    writer = store.journal.writer
    await store.put(build_plan("k", T))
    assert writer.fsyncs == 0 and writer.dirty, "everysec must not fsync in the put"
    deadline = time.monotonic() + 3
    while writer.dirty and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not writer.dirty and writer.fsyncs >= 1


async def test_no_policy_never_fsyncs_while_running(db: Path, stores) -> None:
    store = await stores.open(db, driver_mem_store_fsync="no")
    writer = store.journal.writer
    await store.put_many([build_plan(f"k{i}", T) for i in range(10)])
    await asyncio.sleep(1.5)
    assert writer.fsyncs == 0 and writer.dirty


async def test_unknown_policy_is_refused(mem_store, db: Path) -> None:
    with pytest.raises(ValueError, match="sometimes"):
        mem_store(db, driver_mem_store_fsync="sometimes")


#: Writes until killed: one put, a put_many of three, a remove and a claim per round;
#: prints each write after it returned. Compactions run about every second.
WRITER = """
import asyncio, json, sys, time
from forsun.testing.fixtures import build_plan
from forsun.testing.options import make_options
from forsun_store_mem.store import MemStore

async def main():
    store = MemStore(make_options(**json.loads(sys.argv[1])))
    await store.open()
    print("open", flush=True)
    i = 0
    while True:
        plans = [build_plan(f"w/{i + n:07d}", T + i + n, params={"pad": "x" * 300})
                 for n in range(4)]
        await store.put(plans[0])
        await store.put_many(plans[1:])
        print("put", *(p.key for p in plans), flush=True)
        if i % 8 == 4:
            await store.remove(f"w/{i - 4:07d}")
            print("removed", f"w/{i - 4:07d}", flush=True)
        claimed = await store.claim(T + i, node="0", lease_until=time.time() + 600, limit=2)
        print("claimed", *(p.key for p in claimed), flush=True)
        i += 4
        await asyncio.sleep(0)  # let the journal's timer run, as a server's network I/O does

T = int(sys.argv[2])
asyncio.run(main())
"""


@pytest.mark.parametrize("fsync", ["always", "everysec", "no"])
async def test_sigkill_loses_no_acknowledged_write(db: Path, stores, fsync: str) -> None:
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    options = {"driver_mem_store_file": str(db), "driver_mem_store_fsync": fsync,
               "driver_mem_store_compact_size": 64 << 10}
    child = subprocess.Popen([sys.executable, "-c", WRITER, json.dumps(options), str(T)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    lines: list[str] = []
    stop_after = float("inf")
    try:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line)
            if line.startswith("open"):  # compactions are checked once a second: let some run
                stop_after = time.monotonic() + rng.uniform(1.3, 2.5)
            if time.monotonic() > stop_after:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.stdout is not None and child.stderr is not None
        rest, stderr = child.stdout.read(), child.stderr.read()  # through the read buffers
        child.stdout.close()
        child.stderr.close()
    present: set[str] = set()
    claimed: set[str] = set()
    removed: set[str] = set()
    maybe_removed = None  # the remove of the round the kill interrupted may have happened
    for line in lines + rest.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        word, *keys = line.split()
        if word == "put":
            present.update(keys)
            index = int(keys[0].removeprefix("w/"))
            maybe_removed = f"w/{index - 4:07d}" if index % 8 == 4 else None
        elif word == "removed":
            present.difference_update(keys)
            removed.update(keys)
            maybe_removed = None
        elif word == "claimed":
            claimed.update(keys)
    present.discard(maybe_removed)
    assert present, f"the writer acknowledged nothing: {stderr}"
    assert os.path.exists(f"{db}.snapshot"), "no compaction ran before the kill"
    store = await stores.open(db)
    context = f"(seed {seed}, fsync {fsync}, {len(present)} plans)"
    stored = set(await store.keys("w/"))
    assert present <= stored, f"acknowledged plans lost {context}"
    assert not removed & stored, f"acknowledged removes lost {context}"
    await store.release("0")
    again = {plan.key for plan in await store.claim(T + 10**6, node="0",
                                                    lease_until=time.time() + 60,
                                                    limit=10**6)}
    assert claimed, f"the writer claimed nothing {context}"
    assert present <= again, f"occurrences lost (in flight or due) {context}"
