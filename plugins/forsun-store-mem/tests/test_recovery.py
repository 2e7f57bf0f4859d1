"""Recovery: log replay after SIGKILL, snapshots, torn tails, every state a compaction can
crash in, leftovers, the lock, and progress reporting."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

import attrs
import pytest

from forsun.testing.fixtures import BASE_SECOND as T
from forsun.testing.fixtures import build_plan
from forsun_store_mem import log as logfile
from forsun_store_mem import ops, progress, record, snapshot
from forsun_store_mem.journal import JournalError

pytestmark = pytest.mark.asyncio

#: Every kind of mutation, run in a killed child and on an in-memory store alike.
SCENARIO = """
prefix = "p"
await store.put_many([build_plan(f"{prefix}{i:03d}", T + i % 7, params={"i": str(i), "u": "ü✓"})
                      for i in range(120)])
await store.put(build_plan(f"{prefix}005", T + 50, params={"v": "new"}, created_time=T + 1.5))
await store.remove(f"{prefix}010")
claimed = await store.claim(T + 2, node="n1", lease_until=4e9, limit=30)
for plan in claimed[:10]:
    await store.reschedule(plan, attrs.evolve(plan, next_time=plan.next_time + 100,
                                              current_count=1, last_timeout=plan.next_time))
    await store.ack(plan)
for plan in claimed[10:15]:
    await store.reschedule(plan, None)
await store.extend_lease(claimed[15], 5e9)
await store.ack(claimed[16])
await store.claim(T + 3, node="n2", lease_until=4e9, limit=5)
await store.release("n2")
await store.claim(T + 4, node="n3", lease_until=4.5e9, limit=3)
await store.set_checkpoint(T + 3)
await store.set_checkpoint(T + 1)
"""


async def expected_state(mem_store, state_of) -> dict:
    """The scenario's end state, computed by an in-memory store."""
    store = mem_store("")
    await store.open()
    namespace = {"store": store, "build_plan": build_plan, "T": T, "attrs": attrs}
    exec(f"async def scenario():\n{_indent(SCENARIO)}", namespace)
    await namespace["scenario"]()
    return await state_of(store)


def _indent(code: str) -> str:
    return "\n".join("    " + line for line in code.strip().splitlines())


@pytest.mark.parametrize("compact_size", [1 << 30, 2048], ids=["log-only", "compacting"])
async def test_replay_after_sigkill_restores_every_mutation(
        run_killed, state_of, check_invariants, db: Path, stores, compact_size: int) -> None:
    # with 2048, compactions run (once a second) while the scenario keeps writing
    run_killed(SCENARIO + "\nawait asyncio.sleep(2.5)\n" + SCENARIO.replace('"p"', '"q"'), db,
               driver_mem_store_compact_size=compact_size)
    store = await stores.open(db)
    check_invariants(store.table)
    if compact_size == 2048:
        assert os.path.exists(f"{db}.snapshot"), "no compaction ran in the child"
    reopened = await state_of(store)
    assert len(reopened["keys"]) > 200
    await stores.close(store)
    # the shutdown compaction leaves a snapshot and an empty log that load the same state
    assert os.path.getsize(f"{db}.log") == logfile.HEADER.size
    store = await stores.open(db)
    check_invariants(store.table)
    assert await state_of(store) == reopened


async def test_replayed_state_equals_the_live_one(run_killed, state_of, check_invariants,
                                                  mem_store, db: Path, stores) -> None:
    run_killed(SCENARIO, db)
    store = await stores.open(db)
    check_invariants(store.table)
    assert await state_of(store) == await expected_state(mem_store, state_of)
    await stores.close(store)
    store = await stores.open(db)
    assert await state_of(store) == await expected_state(mem_store, state_of)


@pytest.mark.parametrize("damage", ["half-header", "half-payload", "bad-checksum", "zeros",
                                    "absurd-length"])
async def test_a_torn_tail_is_cut_off_with_a_warning(run_killed, db: Path, stores, caplog,
                                                     damage: str) -> None:
    run_killed("""
        await store.put(build_plan("a", T))
        await store.put(build_plan("b", T + 1))
    """, db)
    good = os.path.getsize(f"{db}.log")
    frame = logfile.frame(ord("P"), b"c\0" + bytes(60))
    tail = {"half-header": frame[:5], "half-payload": frame[:30],
            "bad-checksum": frame[:-1] + bytes([frame[-1] ^ 1]),
            "zeros": bytes(4096), "absurd-length": b"\xff" * 9 + frame}[damage]
    with open(f"{db}.log", "ab") as f:
        f.write(tail)
    with caplog.at_level(logging.WARNING):
        store = await stores.open(db)
    assert await store.keys() == ["a", "b"]
    assert os.path.getsize(f"{db}.log") == good
    assert any("dropped" in r.message and r.levelno == logging.WARNING
               for r in caplog.records), caplog.text
    await store.put(build_plan("c", T + 2))  # appends after the cut are readable
    await stores.close(store)
    store = await stores.open(db)
    assert await store.keys() == ["a", "b", "c"]


async def test_crash_between_snapshot_and_log_rewrite_recovers(
        run_killed, state_of, check_invariants, db: Path, stores) -> None:
    """Snapshot (generation g, offset X) in place, FILE.log still generation g."""
    run_killed(SCENARIO, db)
    shutil.copy(f"{db}.log", f"{db}.log.before")
    store = await stores.open(db)
    expected = await state_of(store)
    await stores.close(store)  # snapshot at the old log's end, log rewritten
    assert logfile.read_generation(f"{db}.log") == 1
    os.replace(f"{db}.log.before", f"{db}.log")  # undo the rewrite
    store = await stores.open(db)
    assert await state_of(store) == expected
    check_invariants(store.table)


async def test_leftovers_of_a_crashed_compaction_are_removed(run_killed, db: Path, stores) -> None:
    run_killed('await store.put(build_plan("kept", T))', db)
    for leftover in (f"{db}.snapshot.tmp", f"{db}.log.tmp"):
        Path(leftover).write_bytes(b"half-written")
    store = await stores.open(db)
    assert await store.keys() == ["kept"]
    assert not os.path.exists(f"{db}.snapshot.tmp") and not os.path.exists(f"{db}.log.tmp")


async def test_writes_during_a_compaction_are_kept(state_of, check_invariants, mem_store,
                                                  db: Path, stores) -> None:
    store = await stores.open(db, driver_mem_store_fsync="no")
    await store.put_many([build_plan(f"old/{i:05d}", T + i % 50) for i in range(10_000)])
    task = asyncio.ensure_future(store.journal.compact(store.table))
    written = 0
    while not task.done():
        await store.put(build_plan(f"new/{written:05d}", T))
        await store.remove(f"old/{written:05d}")
        written += 1
        await asyncio.sleep(0)
    await task
    assert written > 0
    check_invariants(store.table)
    before = await state_of(store)
    snapshot_only = mem_store(db)  # what the snapshot alone holds: the state at the freeze
    snapshot.read(f"{db}.snapshot", snapshot_only.table)
    assert len(snapshot_only.table) == 10_000
    await stores.close(store)
    store = await stores.open(db)
    assert await state_of(store) == before


async def test_mismatched_files_are_refused(run_killed, mem_store, db: Path, stores) -> None:
    run_killed('await store.put(build_plan("a", T))', db)
    os.unlink(f"{db}.log")
    store = await stores.open(db)
    await stores.close(store)  # snapshot (generation 1), log generation 2
    with open(f"{db}.log", "r+b") as f:
        f.write(logfile.header(7))
    with pytest.raises(JournalError, match="generation 7"):
        await mem_store(db).open()


async def test_a_second_store_on_the_same_file_is_refused(mem_store, db: Path, stores) -> None:
    first = await stores.open(db)
    with pytest.raises(JournalError, match="in use"):
        await mem_store(db).open()
    await stores.close(first)
    second = await stores.open(db)
    assert await second.count() == 0


async def test_memory_only_mode_says_so_and_writes_nothing(tmp_path: Path, stores, caplog,
                                                           monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO):
        store = await stores.open("")
    assert "memory only" in caplog.text
    assert store.capabilities == frozenset()
    await store.put(build_plan("a", T))
    await stores.close(store)
    assert os.listdir(tmp_path) == []
    assert store.info()["mem_store_fsync"] == "memory only"


async def test_file_store_is_durable_and_persistent(db: Path, stores) -> None:
    store = await stores.open(db)
    assert store.capabilities == {"durable", "persistent"}
    assert sorted(os.listdir(db.parent)) == ["db.lock", "db.log"]
    await store.put(build_plan("a", T))
    await stores.close(store)
    assert sorted(os.listdir(db.parent)) == ["db.lock", "db.log", "db.snapshot"]
    store = await stores.open(db)
    info = store.info()
    assert info["mem_store_file"] == str(db)
    assert int(info["mem_store_snapshot_bytes"]) == os.path.getsize(f"{db}.snapshot")


async def test_large_loads_report_progress(db: Path, stores, caplog, monkeypatch) -> None:
    store = await stores.open(db)
    await store.put_many([build_plan(f"k{i:05d}", T) for i in range(5000)])
    await stores.close(store)
    monkeypatch.setattr(progress, "QUIET_BYTES", 0)
    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)
    with caplog.at_level(logging.INFO):
        await stores.open(db)
    assert "loading" in caplog.text and "%" in caplog.text


async def test_a_bulk_put_is_logged_in_bounded_frames(monkeypatch) -> None:
    monkeypatch.setattr(ops, "PUTS_PER_FRAME", 2)
    recs = [b"a\0" + bytes(60), b"b\0", b"key\0" + bytes(range(256)), b"z\0x"]
    data = ops.puts(recs)
    payloads = []
    while data:
        length, _, kind = logfile.FRAME.unpack_from(data)
        assert kind == ops.PUTS
        payloads.append(data[logfile.FRAME.size:logfile.FRAME.size + length])
        data = data[logfile.FRAME.size + length:]
    assert [ops._unbatch(payload) for payload in payloads] == [recs[:2], recs[2:]]
    assert ops.puts([]) == b""
    with pytest.raises(ValueError, match="too many"):
        ops._unbatch(payloads[0] + b"x")


async def test_single_put_frames_of_older_logs_still_load(run_killed, db: Path, stores):
    run_killed("""
        await store.put(build_plan("a", T))
    """, db)
    with open(f"{db}.log", "ab") as f:
        for key in ("b", "c"):
            f.write(logfile.frame(ops.PUT, record.encode(build_plan(key, T + 1))))
    store = await stores.open(db)
    assert await store.keys() == ["a", "b", "c"]
    assert (await store.get("c")).next_time == T + 1


async def test_a_torn_bulk_frame_loses_its_whole_batch(run_killed, db: Path, stores) -> None:
    run_killed("""
        await store.put(build_plan("a", T))
    """, db)
    batch = ops.puts([record.encode(build_plan(key, T)) for key in ("b", "c", "d")])
    with open(f"{db}.log", "ab") as f:
        f.write(batch[:-3])
    store = await stores.open(db)
    assert await store.keys() == ["a"]
