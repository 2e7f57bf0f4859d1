"""``forsund migrate`` streaming a mem store's files (forsun_store_mem.migration): as a
SRC, snapshot and log read as the store recovers them, damage refused by name; as an empty
DST, a snapshot written that forsund starts from."""

from __future__ import annotations

import asyncio
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
from migrate_helpers import FORSUND, exported, migrate, ndjson_plans

from forsun.testing.fixtures import build_plan

#: Plans before the snapshot: more than a snapshot block and a migration page hold.
BEFORE = 2500

CRASHING_WRITER = textwrap.dedent("""
    import asyncio, os, sys
    from forsun.options import Options
    from forsun.plugins import get_plugin_manager, collect_options
    from forsun.testing.fixtures import build_plan
    from forsun_store_mem.store import MemStore

    async def main(path):
        declared = [o for opts in collect_options(get_plugin_manager()).values() for o in opts]
        store = MemStore(Options(declared, {"driver_mem_store_file": path}))
        await store.open()
        await store.put_many([build_plan(f"k{i:05d}", 2_000_000_000 + i)
                              for i in range(BEFORE)])
        await store.journal.compact(store.table)  # the snapshot; what follows is logged
        await store.put(build_plan("k00007", 2_100_000_000, params={"cmd": "overwritten"}))
        await store.remove("k00008")
        await store.remove("k02499")
        await store.put_many([build_plan(f"new{i}", 2_000_000_000) for i in range(3)])
        await store.put(build_plan("new1", 2_200_000_000, params={"cmd": "twice"}))
        await store.remove("new2")
        os._exit(0)  # a crash: no compaction at close, the log keeps the changes

    asyncio.run(main(sys.argv[1]))
""").replace("BEFORE", str(BEFORE))


def crashed_store(path: Path) -> None:
    """A mem store at ``path`` whose log holds puts, overwrites and removals made after
    its snapshot (its writer crashed)."""
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(path)], check=True,
                   timeout=60)
    assert path.with_suffix(".db.log").stat().st_size > 16


def test_a_source_is_its_snapshot_with_the_log_applied(tmp_path):
    crashed_store(tmp_path / "a.db")
    done = migrate("mem:a.db", "ndjson:out.ndjson", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = ndjson_plans(tmp_path / "out.ndjson")
    assert len(got) == BEFORE - 2 + 2
    assert "k00008" not in got and "k02499" not in got and "new2" not in got
    assert got["k00007"]["params"] == {"cmd": "overwritten"}
    assert got["k00007"]["next_time"] == 2_100_000_000
    assert got["new1"]["params"] == {"cmd": "twice"}
    assert got["k00009"] == build_plan("k00009", 2_000_000_009).to_dict()
    assert (tmp_path / "a.db.log").stat().st_size > 16, "the source was written"
    assert recovered(tmp_path / "a.db") == got, "the store, opened, holds other plans"


def recovered(path: Path) -> dict[str, dict]:
    """The plans of the mem store at ``path`` as the store itself recovers them."""
    from forsun_store_mem.store import MemStore

    async def read() -> dict[str, dict]:
        store = MemStore({"driver_mem_store_file": str(path)})
        await store.open()
        try:
            return {plan.key: plan.to_dict() async for page in store.plan_pages()
                    for plan in page}
        finally:
            await store.close()

    return asyncio.run(read())


def test_a_prefix_reads_the_snapshot_and_the_log(tmp_path):
    crashed_store(tmp_path / "a.db")
    done = migrate("mem:a.db", "ndjson:out.ndjson", "--prefix", "new", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert set(ndjson_plans(tmp_path / "out.ndjson")) == {"new0", "new1"}


def test_a_truncated_snapshot_is_an_error_naming_it(tmp_path):
    crashed_store(tmp_path / "a.db")
    snapshot = tmp_path / "a.db.snapshot"
    data = snapshot.read_bytes()
    snapshot.write_bytes(data[:len(data) // 2])
    done = migrate("mem:a.db", "ndjson:out.ndjson", cwd=tmp_path)
    assert done.returncode == 1
    assert f"{snapshot}: the block at offset" in done.stderr
    assert "(truncated?)" in done.stderr, done.stderr


def test_a_damaged_snapshot_block_is_an_error_naming_its_offset(tmp_path):
    crashed_store(tmp_path / "a.db")
    snapshot = tmp_path / "a.db.snapshot"
    data = bytearray(snapshot.read_bytes())
    data[1000] ^= 0xFF  # in the first records block
    snapshot.write_bytes(bytes(data))
    done = migrate("mem:a.db", "ndjson:out.ndjson", cwd=tmp_path)
    assert done.returncode == 1
    assert f"{snapshot} is damaged: the block at offset 24 " in done.stderr, done.stderr


def test_a_damaged_log_is_an_error_naming_the_bytes(tmp_path):
    crashed_store(tmp_path / "a.db")
    log = tmp_path / "a.db.log"
    data = bytearray(log.read_bytes())
    data[30] ^= 0xFF  # in the first frame; intact frames follow
    log.write_bytes(bytes(data))
    done = migrate("mem:a.db", "ndjson:out.ndjson", cwd=tmp_path)
    assert done.returncode == 1
    assert f"{log} is damaged: " in done.stderr and "between offsets 16 and" in done.stderr
    assert not (tmp_path / "out.ndjson").exists()


def test_a_torn_log_tail_is_dropped_with_a_warning(tmp_path):
    """The end of a write a crash cut short: forsund drops it too, nothing else is lost."""
    crashed_store(tmp_path / "a.db")
    log = tmp_path / "a.db.log"
    size = log.stat().st_size
    with open(log, "ab") as f:
        f.write(b"\x40\x00\x00\x00\x01\x02\x03\x04P" + b"k" * 20)  # 64 bytes promised
    done = migrate("mem:a.db", "ndjson:out.ndjson", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"ignored 29 bytes after the last intact record at offset {size}" in done.stderr
    assert len(ndjson_plans(tmp_path / "out.ndjson")) == BEFORE


def test_a_log_without_its_snapshot_is_refused(tmp_path):
    crashed_store(tmp_path / "a.db")
    (tmp_path / "a.db.snapshot").unlink()
    done = migrate("mem:a.db", "ndjson:out.ndjson", cwd=tmp_path)
    assert done.returncode == 1
    assert "a.db.snapshot is missing but" in done.stderr, done.stderr


def test_an_empty_dst_gets_a_snapshot_forsund_starts_from(tmp_path, forsunds, http_receiver):
    """The plan keeps its next_time and fires at it; the others stay; a second run of the
    same migration replaces them (the store opened, as DST holds plans then)."""
    due = int(time.time()) + 4
    plans = [build_plan(f"p{i:05d}", 2_000_000_000 + i % 977, created_time=1.5 * i)
             for i in reversed(range(BEFORE))]
    plans.insert(1234, build_plan("soon", due, action="http",
                                  params={"url": http_receiver.url("/soon")}))
    (tmp_path / "in.ndjson").write_bytes(
        b"".join(orjson.dumps(plan.to_dict()) + b"\n" for plan in plans))
    done = migrate(f"ndjson:{tmp_path / 'in.ndjson'}", "mem:live.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"in DST       {BEFORE + 1}: agrees" in done.stdout
    assert (tmp_path / "live.db.log").stat().st_size == 16, "not written as a snapshot"
    daemon = forsunds.start("--driver-mem-store-file", str(tmp_path / "live.db"))
    http_receiver.wait(1, timeout=15)
    (fired,) = http_receiver.requests
    assert fired.key == "soon" and fired.ts == due and fired.arrived >= due
    daemon.stop()
    again = migrate(f"ndjson:{tmp_path / 'in.ndjson'}", "mem:live.db", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"in DST       {BEFORE + 1} (before: " in again.stdout  # "soon" may be gone
    assert ": agrees" in again.stdout
    kept = exported("mem:live.db", tmp_path)
    assert kept == {plan.key: plan.to_dict() for plan in plans}


def test_a_dst_that_cannot_be_written_says_nothing_was_stored(tmp_path):
    """A file size limit (as a full disk would) stops the snapshot being written: the
    one-line error says DST holds nothing, and it does."""
    plans = [build_plan(f"p{i:05d}", 2_000_000_000 + i) for i in range(BEFORE)]
    (tmp_path / "in.ndjson").write_bytes(
        b"".join(orjson.dumps(plan.to_dict()) + b"\n" for plan in plans))

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    done = subprocess.run([*FORSUND, "migrate", f"ndjson:{tmp_path / 'in.ndjson'}",
                           "mem:full.db"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, preexec_fn=small_files)
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("forsund migrate: ") and "nothing was stored in DST" in line, line
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("full.db.snapshot*")), "a partial snapshot left behind"
    assert exported("mem:full.db", tmp_path) == {}


def test_a_dst_in_use_is_refused(tmp_path, forsunds):
    daemon = forsunds.start("--driver-mem-store-file", str(tmp_path / "live.db"))
    (tmp_path / "in.ndjson").write_bytes(orjson.dumps(build_plan("a").to_dict()) + b"\n")
    done = migrate(f"ndjson:{tmp_path / 'in.ndjson'}", "mem:live.db", cwd=tmp_path)
    assert done.returncode == 1
    assert f"pid {daemon.proc.pid}" in done.stderr, done.stderr


def test_a_migration_holds_the_lock(tmp_path: Path):
    """While it runs, the files are locked (forsund would refuse them)."""
    writer = subprocess.Popen([sys.executable, "-m", "forsun.commands.forsund", "migrate",
                               "ndjson:-", "mem:x.db"], cwd=tmp_path, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not locked(tmp_path / "x.db.lock", writer.pid):
            assert time.monotonic() < deadline and writer.poll() is None
            time.sleep(0.1)
        (tmp_path / "in.ndjson").write_bytes(b"")
        held = migrate("ndjson:in.ndjson", "mem:x.db", cwd=tmp_path)
        assert held.returncode == 1
        assert f"is in use by another forsund (pid {writer.pid}" in held.stderr, held
    finally:
        writer.communicate(orjson.dumps(build_plan("a").to_dict()), timeout=30)
    assert writer.returncode == 0


def locked(path: Path, pid: int) -> bool:
    """Whether ``pid`` took the lock (its holder writes its pid once it holds it; probing
    with flock could make that process find the lock taken)."""
    return path.exists() and path.read_text().strip() == str(pid)
