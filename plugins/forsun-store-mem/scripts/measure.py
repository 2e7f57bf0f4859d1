"""Measure the mem store: memory per plan, put throughput per fsync policy, snapshot size,
reload time and log replay speed.

    uv run python plugins/forsun-store-mem/scripts/measure.py            # 10^5 and 10^6
    uv run python plugins/forsun-store-mem/scripts/measure.py --huge     # and 10^7 (~3 GB RAM)
    uv run python plugins/forsun-store-mem/scripts/measure.py --json out.json

Every figure comes from a fresh child process, so one measurement's garbage does not
inflate the next. Plans have 20-character keys, a 2-entry params map and next_time spread
over the next 24 hours. RSS per plan = (RSS after loading - RSS before) / plans.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

PARAMS = {"url": "http://127.0.0.1:8080/cb", "method": "post"}
BATCH = 10_000


def rss() -> int:
    """Resident set size after a garbage collection (imports done: they are not per plan)."""
    import psutil

    import forsun.plan
    import forsun.testing.options  # noqa: F401
    import forsun_store_mem.store  # noqa: F401

    gc.collect()
    return psutil.Process().memory_info().rss


def plans(start: int, count: int, now: int):
    from forsun.plan import Plan

    rng = random.Random(start)
    return [Plan(key=f"order:{i:014d}", second=30, is_time_out=True, count=1, action="http",
                 params=dict(PARAMS), next_time=now + rng.randrange(86_400),
                 created_time=now + 0.5) for i in range(start, start + count)]


def store(path: str, fsync: str = "no", compact_size: int = 1 << 62):
    from forsun.testing.options import make_options
    from forsun_store_mem.store import MemStore

    return MemStore(make_options(driver_mem_store_file=path, driver_mem_store_fsync=fsync,
                                 driver_mem_store_compact_size=compact_size))


async def fill(path: str, count: int) -> dict:
    """Fill a store with ``count`` plans, then close it (the shutdown compaction writes the
    snapshot)."""
    now = int(time.time())
    before = rss()
    st = store(path)
    await st.open()
    fill_seconds = 0.0
    for start in range(0, count, BATCH):
        batch = plans(start, min(BATCH, count - start), now)
        started = time.perf_counter()
        await st.put_many(batch)
        fill_seconds += time.perf_counter() - started
    del batch
    after = rss()
    started = time.perf_counter()
    await st.close()
    return {"plans": count, "rss_per_plan": (after - before) / count,
            "put_many_per_s": count / fill_seconds,
            "close_compaction_s": time.perf_counter() - started,
            "snapshot_bytes": os.path.getsize(path + ".snapshot")}


async def reload(path: str) -> dict:
    before = rss()
    st = store(path)
    started = time.perf_counter()
    await st.open()
    seconds = time.perf_counter() - started
    result = {"reload_s": seconds, "reload_rss_per_plan": (rss() - before) / await st.count()}
    await st.close()
    return result


async def throughput(path: str, fsync: str, count: int, concurrency: int) -> dict:
    """``count`` single puts from ``concurrency`` concurrent tasks."""
    now = int(time.time())
    batch = plans(0, count, now)
    st = store(path, fsync)
    await st.open()

    async def worker(index: int) -> None:
        for plan in batch[index::concurrency]:
            await st.put(plan)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    seconds = time.perf_counter() - started
    fsyncs = st.journal.writer.fsyncs
    await st.close()
    return {"fsync": fsync, "puts": count, "concurrency": concurrency,
            "puts_per_s": count / seconds, "fsyncs": fsyncs}


async def crash_log(path: str, count: int) -> None:
    """Write ``count`` puts to the log, then exit without closing (as if killed)."""
    st = store(path)
    await st.open()
    now = int(time.time())
    for start in range(0, count, BATCH):
        await st.put_many(plans(start, min(BATCH, count - start), now))
    os._exit(0)


async def replay(path: str) -> dict:
    size = os.path.getsize(path + ".log")
    st = store(path)
    started = time.perf_counter()
    await st.open()
    seconds = time.perf_counter() - started
    count = await st.count()
    await st.close()
    return {"log_records": count, "log_bytes": size, "replay_s": seconds,
            "replay_records_per_s": count / seconds}


CHILD = {"fill": fill, "reload": reload, "throughput": throughput, "crash_log": crash_log,
         "replay": replay}


def child(name: str, *args) -> dict:
    """Run ``CHILD[name](*args)`` in a fresh interpreter and return its JSON result."""
    proc = subprocess.run([sys.executable, __file__, "--child", name, *map(str, args)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--huge", action="store_true", help="also measure 10^7 plans")
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated plan counts (default 100000,1000000)")
    parser.add_argument("--puts", type=int, default=20_000,
                        help="single puts per fsync policy (default 20000)")
    parser.add_argument("--replay", type=int, default=300_000,
                        help="log records for the replay measurement (default 300000)")
    parser.add_argument("--dir", default=None, help="scratch directory (default: a temp dir)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write results here")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, *rest = args.child
        typed = [int(a) if a.isdigit() else a for a in rest]
        result = asyncio.run(CHILD[name](*typed))
        print(json.dumps(result))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.huge:
        sizes.append(10_000_000)
    scratch = tempfile.mkdtemp(prefix="forsun-mem-measure-", dir=args.dir)
    results: dict[str, list[dict]] = {"sizes": [], "throughput": [], "replay": []}
    try:
        print(f"params {PARAMS}, 20-character keys, python {sys.version.split()[0]}")
        print(f"{'plans':>10} {'RSS B/plan':>11} {'put_many/s':>11} {'snapshot MiB':>13} "
              f"{'B/plan':>7} {'close s':>8} {'reload s':>9} {'reload B/plan':>14}")
        for count in sizes:
            path = os.path.join(scratch, f"size{count}")
            row = child("fill", path, count) | child("reload", path)
            results["sizes"].append(row)
            print(f"{count:>10} {row['rss_per_plan']:>11.0f} {row['put_many_per_s']:>11.0f} "
                  f"{row['snapshot_bytes'] / 2**20:>13.1f} {row['snapshot_bytes'] / count:>7.0f} "
                  f"{row['close_compaction_s']:>8.2f} {row['reload_s']:>9.2f} "
                  f"{row['reload_rss_per_plan']:>14.0f}")
            for suffix in (".snapshot", ".log", ".lock"):
                os.unlink(path + suffix)
        print(f"\n{'fsync':>9} {'puts':>7} {'tasks':>6} {'puts/s':>9} {'fsyncs':>7}")
        for fsync in ("always", "everysec", "no"):
            path = os.path.join(scratch, f"put-{fsync}")
            row = child("throughput", path, fsync, args.puts, 64)
            results["throughput"].append(row)
            print(f"{fsync:>9} {row['puts']:>7} {row['concurrency']:>6} "
                  f"{row['puts_per_s']:>9.0f} {row['fsyncs']:>7}")
        path = os.path.join(scratch, "replay")
        child("crash_log", path, args.replay)
        row = child("replay", path)
        results["replay"].append(row)
        print(f"\nlog replay: {row['log_records']} records ({row['log_bytes'] / 2**20:.1f} MiB) "
              f"in {row['replay_s']:.2f}s = {row['replay_records_per_s']:.0f} records/s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
