"""Recovery: log replay after SIGKILL, snapshots, torn tails, every state a compaction can
crash in, leftovers, the lock, and progress reporting."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from forsun.testing.fixtures import BASE_SECOND as T
from forsun.testing.fixtures import build_plan
from forsun_store_mem import log as logfile
from forsun_store_mem import ops, progress, record, snapshot
from forsun_store_mem.journal import JournalError

pytestmark = pytest.mark.asyncio


def _set_aside(db: Path) -> list[Path]:
    """The damaged files recovery kept, oldest first."""
    return sorted(db.parent.glob(f"{db.name}.*.damaged-*"))

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


def _sector_zeroed(good: int, frame: bytes) -> bytes:
    """``frame`` written at offset ``good`` with its bytes from the next disk sector on
    zeroed: what a machine crash leaves when those sectors were allocated but not written."""
    cut = -good % logfile.SECTOR
    cut += logfile.SECTOR if cut < logfile.FRAME.size else 0
    assert cut < len(frame)
    return frame[:cut] + bytes(len(frame) - cut)


#: Tails a crash can leave after the last intact frame (the frame appended is ``frame``).
TORN = {
    "half-header": lambda good, frame: frame[:5],
    "half-payload": lambda good, frame: frame[:30],
    "zeros": lambda good, frame: bytes(4096),
    "cut-short-absurd-length": lambda good, frame: b"\xff" * 9 + frame[:20],
    "zeroed-sectors": lambda good, frame: _sector_zeroed(good, frame),
}

#: Tails no crash leaves: whole frames that fail their checksum, or garbage before one.
DAMAGED_TAILS = {
    "bad-checksum": lambda frame: frame[:-1] + bytes([frame[-1] ^ 1]),
    "length-too-long": lambda frame: struct.pack("<I", len(frame) + 1000) + frame[4:],
    "garbage-then-record": lambda frame: b"\xff" * 9 + frame,
}


async def _two_plans_and(run_killed, db: Path, tail: Callable[[int, bytes], bytes]) -> int:
    """A log holding plans a and b, then ``tail(offset, frame of c)``; return the offset."""
    run_killed("""
        await store.put(build_plan("a", T))
        await store.put(build_plan("b", T + 1))
    """, db)
    good = os.path.getsize(f"{db}.log")
    frame = logfile.frame(ops.PUT, record.encode(build_plan("c", T + 2, params={
        "body": "".join(map(chr, range(32, 127))) * 8})))
    with open(f"{db}.log", "ab") as f:
        f.write(tail(good, frame))
    return good


@pytest.mark.parametrize("damage", sorted(TORN))
async def test_a_torn_tail_is_cut_off_with_a_warning(run_killed, db: Path, stores, caplog,
                                                     damage: str) -> None:
    good = await _two_plans_and(run_killed, db, TORN[damage])
    with caplog.at_level(logging.WARNING):
        store = await stores.open(db)
    assert await store.keys() == ["a", "b"]
    assert os.path.getsize(f"{db}.log") == good
    assert any("dropped" in r.message and r.levelno == logging.WARNING
               for r in caplog.records), caplog.text
    assert _set_aside(db) == []
    await store.put(build_plan("c", T + 2))  # appends after the cut are readable
    await stores.close(store)
    store = await stores.open(db)
    assert await store.keys() == ["a", "b", "c"]


@pytest.mark.parametrize("damage", sorted(DAMAGED_TAILS))
async def test_a_damaged_last_record_is_not_taken_for_a_torn_tail(
        run_killed, mem_store, db: Path, stores, caplog, damage: str) -> None:
    """A whole frame with a wrong checksum at the end is no crash's doing (a write reaches
    the kernel whole or ends the file early; sectors a machine crash did not write read as
    zeros): it may be an acknowledged plan, so the start is refused."""
    good = await _two_plans_and(run_killed, db, lambda good, frame: DAMAGED_TAILS[damage](frame))
    damaged = Path(f"{db}.log").read_bytes()
    with pytest.raises(JournalError) as refused:
        await mem_store(db).open()
    message = str(refused.value)
    assert message.startswith(f"{db}.log is damaged") and f"offsets {good} and" in message
    assert "--driver-mem-store-recover" in message and "\n" not in message
    assert Path(f"{db}.log").read_bytes() == damaged, "refusing changed the file"

    with caplog.at_level(logging.WARNING):
        store = await stores.open(db, driver_mem_store_recover=True)
    kept = ["a", "b", "c"] if damage == "garbage-then-record" else ["a", "b"]
    assert await store.keys() == kept
    assert [path.read_bytes() for path in _set_aside(db)] == [damaged]
    assert "recovered with --driver-mem-store-recover" in caplog.text
    await stores.close(store)
    store = await stores.open(db)
    assert await store.keys() == kept


def _frames(path: str) -> list[tuple[int, int]]:
    """(start, end) of each frame of an undamaged log."""
    data = Path(path).read_bytes()
    frames, pos = [], logfile.HEADER.size
    while pos < len(data):
        length = logfile.FRAME.unpack_from(data, pos)[0]
        frames.append((pos, pos + logfile.FRAME.size + length))
        pos = frames[-1][1]
    return frames


def _flip(path: str, offset: int, mask: int = 0x10) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ mask]))


#: Where in a frame a bit is flipped: (offset in the frame, bit mask).
FLIPS = {"payload": (20, 0x10), "checksum": (5, 0x01), "kind": (8, 0x02),
         "length-past-the-end": (3, 0x40), "length-shorter": (0, 0x04)}


@pytest.mark.parametrize("where", sorted(FLIPS))
async def test_a_flipped_bit_in_the_middle_of_the_log_stops_the_start_until_recovered(
        run_killed, mem_store, check_invariants, db: Path, stores, caplog, where: str) -> None:
    run_killed("""
        for i in range(1000):
            await store.put(build_plan(f"k{i:04d}", T + i % 60, params={"i": str(i)}))
    """, db)
    log_path = f"{db}.log"
    frames = _frames(log_path)
    assert len(frames) == 1000
    start, end = frames[500]
    _flip(log_path, start + FLIPS[where][0], FLIPS[where][1])
    damaged = Path(log_path).read_bytes()

    with pytest.raises(JournalError) as refused:
        await mem_store(db).open()
    message = str(refused.value)
    assert message.startswith(f"{log_path} is damaged: {end - start} bytes between offsets "
                              f"{start} and {end} cannot be read and 499 intact records "
                              "follow"), message
    assert "run forsund once with --driver-mem-store-recover" in message
    assert Path(log_path).read_bytes() == damaged, "refusing changed the file"
    assert _set_aside(db) == []
    with pytest.raises(JournalError):  # refused again: nothing was cut off
        await mem_store(db).open()

    with caplog.at_level(logging.WARNING):
        store = await stores.open(db, driver_mem_store_recover=True)
    everything = [f"k{i:04d}" for i in range(1000)]
    assert await store.keys() == everything[:500] + everything[501:]
    assert (await store.get("k0999")).params == {"i": "999"}
    check_invariants(store.table)
    assert [path.read_bytes() for path in _set_aside(db)] == [damaged]
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert f"offsets {start} and {end}" in warning and "499 intact records" in warning
    assert f"kept as {_set_aside(db)[0]}" in warning
    assert logfile.read_header(log_path)[1] == 1, "no clean log replaced the damaged one"
    await stores.close(store)
    store = await stores.open(db)  # the clean files need no option
    assert await store.keys() == everything[:500] + everything[501:]


async def _snapshot_then_log(run_killed, stores, db: Path) -> None:
    """100 plans a00..a99 in the snapshot, then 10 plans b0..b9 only in the log."""
    store = await stores.open(db)
    await store.put_many([build_plan(f"a{i:02d}", T) for i in range(100)])
    await stores.close(store)
    run_killed("""
        for i in range(10):
            await store.put(build_plan(f"b{i}", T))
    """, db)


async def test_a_deleted_log_stops_the_start_until_recovered_from_the_snapshot(
        run_killed, mem_store, db: Path, stores, caplog) -> None:
    await _snapshot_then_log(run_killed, stores, db)
    os.unlink(f"{db}.log")
    with pytest.raises(JournalError) as refused:
        await mem_store(db).open()
    assert str(refused.value).startswith(
        f"{db}.log is missing but {db}.snapshot (generation 0) says it holds the changes "
        "made after it: with --driver-mem-store-recover forsund starts from the snapshot "
        "alone (100 plans); the changes logged after it are lost"), refused.value
    assert not os.path.exists(f"{db}.log")

    with caplog.at_level(logging.WARNING):
        store = await stores.open(db, driver_mem_store_recover=True)
    assert await store.keys() == [f"a{i:02d}" for i in range(100)]
    assert "starts from the snapshot alone" in caplog.text
    await store.put(build_plan("c", T))
    await stores.close(store)
    store = await stores.open(db)
    assert len(await store.keys()) == 101


async def test_a_deleted_snapshot_stops_the_start_until_recovered_from_the_log(
        run_killed, mem_store, db: Path, stores) -> None:
    await _snapshot_then_log(run_killed, stores, db)
    os.unlink(f"{db}.snapshot")
    with pytest.raises(JournalError, match=f"^{db}.snapshot is missing but {db}.log "
                                           r"\(generation 1\) follows one"):
        await mem_store(db).open()
    store = await stores.open(db, driver_mem_store_recover=True)
    assert await store.keys() == [f"b{i}" for i in range(10)]
    await stores.close(store)
    store = await stores.open(db)
    assert await store.keys() == [f"b{i}" for i in range(10)]


def _blocks(path: str) -> list[tuple[int, int, int]]:
    """(kind, start, end) of each block of an undamaged snapshot."""
    data = Path(path).read_bytes()
    blocks, pos = [], snapshot.HEADER.size
    while pos < len(data):
        kind, _, length, _ = snapshot.BLOCK.unpack_from(data, pos)
        blocks.append((kind, pos, pos + snapshot.BLOCK.size + length))
        pos = blocks[-1][2]
    return blocks


@pytest.fixture
async def snapshot_of_1000_plans(stores, state_of, db: Path, monkeypatch) -> dict:
    """A snapshot (blocks of 100 items) of k0000..k0999, some claimed and in flight, with a
    checkpoint; returns the store's state."""
    monkeypatch.setattr(snapshot, "BATCH", 100)
    store = await stores.open(db)
    await store.put_many([build_plan(f"k{i:04d}", T + i % 60) for i in range(1000)])
    assert await store.claim(T + 1, node="n1", lease_until=4e9, limit=50)
    await store.set_checkpoint(T)
    state = await state_of(store)
    await stores.close(store)
    kinds = [kind for kind, _, _ in _blocks(f"{db}.snapshot")]
    assert kinds == [snapshot.RECORDS] * 10 + [snapshot.ENTRIES] * 10 + [
        snapshot.CLAIMED, snapshot.INFLIGHT, snapshot.END]
    return state


async def test_damaged_snapshot_blocks_lose_only_their_plans(
        snapshot_of_1000_plans, mem_store, state_of, check_invariants, db: Path,
        stores) -> None:
    path = f"{db}.snapshot"
    _, start, end = _blocks(path)[3]  # the records of k0300..k0399
    _flip(path, start + 500)
    damaged = Path(path).read_bytes()
    with pytest.raises(JournalError) as refused:
        await mem_store(db).open()
    assert str(refused.value).startswith(
        f"{path} is damaged: {end - start} bytes between offsets {start} and {end} cannot "
        "be read: with --driver-mem-store-recover 100 of its 1000 plans are lost (keys "
        "between 'k0299' and 'k0400') and the other 900 kept"), refused.value

    store = await stores.open(db, driver_mem_store_recover=True)
    check_invariants(store.table)
    before = snapshot_of_1000_plans
    after = await state_of(store)
    assert after["keys"] == [key for key in before["keys"] if not key.startswith("k03")]
    assert after["due"] == [plan for plan in before["due"] if not plan.key.startswith("k03")]
    assert after["inflight"] == before["inflight"] and after["checkpoint"] == T
    assert [p.read_bytes() for p in _set_aside(db)] == [damaged]
    await stores.close(store)
    store = await stores.open(db)
    assert await state_of(store) == after


async def test_a_damaged_due_index_is_rebuilt_and_nothing_is_lost(
        snapshot_of_1000_plans, mem_store, state_of, check_invariants, db: Path,
        stores) -> None:
    _, start, _ = _blocks(f"{db}.snapshot")[12]  # due entries
    _flip(f"{db}.snapshot", start + 40)
    with pytest.raises(JournalError, match="with --driver-mem-store-recover all its 1000 "
                                           "plans are kept; its due index is rebuilt"):
        await mem_store(db).open()
    store = await stores.open(db, driver_mem_store_recover=True)
    check_invariants(store.table)
    assert await state_of(store) == snapshot_of_1000_plans


async def test_a_truncated_snapshot_keeps_its_intact_blocks(
        snapshot_of_1000_plans, mem_store, state_of, check_invariants, db: Path,
        stores) -> None:
    _, start, _ = _blocks(f"{db}.snapshot")[15]
    os.truncate(f"{db}.snapshot", start + 100)
    with pytest.raises(JournalError, match="its end block is missing: with "
                                           "--driver-mem-store-recover its 1000 intact plans "
                                           "are kept; how many were lost is unknown"):
        await mem_store(db).open()
    store = await stores.open(db, driver_mem_store_recover=True)
    check_invariants(store.table)
    after = await state_of(store)
    assert after["keys"] == snapshot_of_1000_plans["keys"]
    # the claimed and in-flight blocks are lost: claimed plans are due again
    assert after["inflight"] == [] and after["checkpoint"] is None
    assert len(after["due"]) == 1000


async def test_a_snapshot_with_a_damaged_header_is_set_aside(
        snapshot_of_1000_plans, run_killed, mem_store, db: Path, stores) -> None:
    run_killed('await store.put(build_plan("late", T))', db)
    _flip(f"{db}.snapshot", 2)
    with pytest.raises(JournalError, match="its header \\(offset 0\\) is not a snapshot "
                                           "header: with --driver-mem-store-recover it is set "
                                           "aside and forsund starts from the log alone"):
        await mem_store(db).open()
    store = await stores.open(db, driver_mem_store_recover=True)
    assert await store.keys() == ["late"]
    assert len(_set_aside(db)) == 1
    await stores.close(store)
    store = await stores.open(db)
    assert await store.keys() == ["late"]


async def test_the_recover_option_on_intact_files_changes_nothing(
        run_killed, state_of, mem_store, db: Path, stores, caplog) -> None:
    store = await stores.open(db)
    await store.put_many([build_plan(f"s{i}", T) for i in range(10)])
    await stores.close(store)
    run_killed(SCENARIO, db)
    files = {name: Path(f"{db}.{name}").read_bytes() for name in ("snapshot", "log")}
    plain = await stores.open(db)
    expected = await state_of(plain)
    plain.journal._writer.close()  # let go without the compaction close() would run
    plain.journal._writer = None
    plain.journal._unlock()
    stores.opened.remove(plain)
    with caplog.at_level(logging.WARNING):
        store = await stores.open(db, driver_mem_store_recover=True)
    assert await state_of(store) == expected
    assert {name: Path(f"{db}.{name}").read_bytes() for name in files} == files
    assert _set_aside(db) == []
    assert "--driver-mem-store-recover is set but" in caplog.text


async def test_crash_between_snapshot_and_log_rewrite_recovers(
        run_killed, state_of, check_invariants, db: Path, stores) -> None:
    """Snapshot (generation g, offset X) in place, FILE.log still generation g."""
    run_killed(SCENARIO, db)
    shutil.copy(f"{db}.log", f"{db}.log.before")
    store = await stores.open(db)
    expected = await state_of(store)
    await stores.close(store)  # snapshot at the old log's end, log rewritten
    assert logfile.read_header(f"{db}.log") == (logfile.MAGIC, 1)
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
    assert store.capabilities == frozenset({"failures", "inline"})  # kept in memory too
    await store.put(build_plan("a", T))
    await stores.close(store)
    assert os.listdir(tmp_path) == []
    assert store.info()["mem_store_fsync"] == "memory only"


async def test_file_store_is_durable_and_persistent(db: Path, stores) -> None:
    store = await stores.open(db)
    assert store.capabilities == {"durable", "persistent", "failures", "inline"}
    assert sorted(os.listdir(db.parent)) == ["db.failures", "db.lock", "db.log"]
    await store.put(build_plan("a", T))
    await stores.close(store)
    assert sorted(os.listdir(db.parent)) == ["db.failures", "db.lock", "db.log",
                                             "db.snapshot"]
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


def _bulk_payloads(data: bytes) -> list[bytes]:
    payloads = []
    while data:
        length, _, kind = logfile.FRAME.unpack_from(data)
        assert kind == ops.PUTS
        payloads.append(data[logfile.FRAME.size:logfile.FRAME.size + length])
        data = data[logfile.FRAME.size + length:]
    return payloads


async def test_a_bulk_put_is_logged_in_bounded_frames(monkeypatch) -> None:
    monkeypatch.setattr(ops, "PUTS_PER_FRAME", 2)
    recs = [b"a\0" + bytes(60), b"b\0", b"key\0" + bytes(range(256)), b"z\0x"]
    payloads = _bulk_payloads(ops.puts(recs))
    assert [ops.unbatch(payload) for payload in payloads] == [recs[:2], recs[2:]]
    assert ops.puts([]) == b""
    monkeypatch.setattr(ops, "PUTS_PER_FRAME", 4096)
    monkeypatch.setattr(ops, "PUTS_BYTES_PER_FRAME", 100)  # a larger record gets its own
    assert [ops.unbatch(payload) for payload in _bulk_payloads(ops.puts(recs))] == [
        recs[:2], recs[2:3], recs[3:]]
    with pytest.raises(ValueError, match="too many"):
        ops.unbatch(payloads[0] + b"x")


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
