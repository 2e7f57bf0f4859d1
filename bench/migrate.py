"""migrate: moving plans in and out, at each of ``migrate_sizes`` plans (delay plans due a
day later, the bench's 20-character keys and two params):

- ``forsund migrate`` mem → redis and redis → mem (offline; Redis 127.0.0.1:6379,
  database :data:`.redis_store.DB`, keys under ``{forsun-bench-TAG-migrate}``, deleted
  afterwards);
- ``forsun export`` from a forsund on that mem store, then ``forsun import`` of the file
  into a fresh forsund (HTTP API).

Each row gives plans/s (wall clock of the command, start-up included) and the note the
peak RSS of the process doing the work (the migrating command; for export and import the
client, and forsund's RSS after the import). The peak RSS must stay bounded as the count
grows: compare the rows of 10^5 and 10^6 (``forsund migrate`` streams the mem store's files,
so neither direction may grow; forsund itself holds every plan in memory).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil

from .context import Context
from .plans import delay, key
from .redis_store import DB, HOST, PORT, run_on_redis
from .report import Row
from .target import Forsund

DAY = 86_400
FORSUND = [sys.executable, "-m", "forsun.commands.forsund"]
FORSUN = [sys.executable, "-m", "forsun.commands.forsun"]


def run(ctx: Context) -> None:
    run_on_redis(ctx, "migrate", lambda prefix: [
        measure(ctx, size, f"{prefix}-migrate{size}") for size in ctx.profile.migrate_sizes])


def measure(ctx: Context, size: int, prefix: str) -> None:
    workdir = ctx.workdir(f"migrate-{size}")
    source = workdir / "plans.ndjson"
    with open(source, "wb") as out:
        for index in range(size):
            plan = delay(key(f"{ctx.tag}g", index), DAY + index % 3600)
            plan["second"] = plan.pop("seconds")
            plan.update(next_time=int(time.time()) + DAY,
                        created_time=time.time())
            out.write(orjson.dumps(plan) + b"\n")
    redis_url = f"redis://{HOST}:{PORT}/{DB}?prefix={prefix}"
    label = f"{size:,} plans"
    timed(workdir, [*FORSUND, "migrate", f"ndjson:{source}", "mem:a.db"])
    for what, src, dst in (("mem → redis", "mem:a.db", redis_url),
                           ("redis → mem", redis_url, "mem:b.db")):
        seconds, peak = timed(workdir, [*FORSUND, "migrate", src, dst])
        ctx.add(Row("migrate", f"forsund migrate {what}, {label}", size / seconds, "plans/s",
                    note=f"{seconds:.1f} s; peak RSS of forsund migrate {peak:.0f} MiB"))
    server = Forsund.start(workdir / "export", ["--driver-mem-store-file",
                                                str(workdir / "b.db")])
    try:
        seconds, peak = timed(workdir, [*FORSUN, "export", "--http",
                                        server.process.http_url, "-o", "export.ndjson"])
    finally:
        server.stop()
    ctx.add(Row("migrate", f"forsun export, {label}", size / seconds, "plans/s",
                note=f"{seconds:.1f} s; peak RSS of forsun export {peak:.0f} MiB"))
    server = Forsund.start(workdir / "import", ["--driver-mem-store-file",
                                                str(workdir / "c.db")])
    try:
        seconds, peak = timed(workdir, [*FORSUN, "import", "export.ndjson", "--http",
                                        server.process.http_url])
        count = int(server.target.info()["plan_count"])
        server_rss = server.process.rss() / 2**20
    finally:
        server.stop()
    ctx.add(Row("migrate", f"forsun import, {label}", size / seconds, "plans/s",
                note=f"{seconds:.1f} s; peak RSS of forsun import {peak:.0f} MiB, of forsund "
                     f"after it {server_rss:.0f} MiB; {count:,} plans stored"))


def timed(cwd: Path, command: list[str]) -> tuple[float, float]:
    """Run ``command``; its wall-clock seconds and peak RSS (MiB, sampled every 20 ms).
    A failure raises with its stderr."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    stderr = proc.communicate()[1]
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:])} failed ({proc.returncode}): "
                           f"{stderr.decode(errors='replace')[-2000:]}")
    return seconds, peak / 2**20
