"""kill -9 of forsund (mem store) while clients create plans as fast as they can, and
damaged or missing data files.

Each round starts forsund on the same data file, lets a few client threads create plans
over Thrift (forsun.client.Client) and SIGKILLs forsund at a random moment. After every
restart each acknowledged plan must still be there or have fired, and at the end every
occurrence that came due must have fired at least once: the shell action appends
"$FORSUN_KEY $FORSUN_TIMESTAMP" to a file. The random seed is printed (and given by
FORSUN_FAULT_SEED to replay a run).

Damage (a flipped bit in the log, a deleted log) stops forsund with one line that says
what ``--driver-mem-store-recover`` would lose; with it forsund keeps every intact plan.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import attrs

from forsun.client import Client
from forsun.testing.process import (
    ForsundProcess,
    flip_bit,
    leave_files,
    refused_start,
    start_forsund,
)

#: Client threads creating plans during a round.
CLIENTS = 6
#: Seconds we give forsund to fire what is due after the last restart.
FIRE_GRACE = 8.0


@attrs.define
class Acked:
    """A create forsund acknowledged: the occurrences it promised and when it answered."""

    key: str
    due: list[int]
    acked_at: float
    far: bool


@attrs.define
class Load:
    """Client threads creating plans until :meth:`stop`: one plan in ten fires once a few
    seconds later, one in twenty fires three times, the rest are due in an hour (they are
    only checked for existence: a shell per plan would make forsund, not the store, the
    bottleneck)."""

    port: int
    prefix: str
    cmd: str
    rng: random.Random
    acked: list[Acked] = attrs.field(factory=list)
    failed: list[str] = attrs.field(factory=list)
    _stop: threading.Event = attrs.field(factory=threading.Event)
    _threads: list[threading.Thread] = attrs.field(factory=list)

    def start(self) -> None:
        for index in range(CLIENTS):
            seed = self.rng.randrange(1 << 30)
            thread = threading.Thread(target=self._run, args=(index, seed), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
            assert not thread.is_alive(), "a client hung after forsund died"

    def _run(self, index: int, seed: int) -> None:
        rng = random.Random(seed)
        with Client("127.0.0.1", self.port, max_connections=1, timeout=5) as client:
            number = 0
            while not self._stop.is_set():
                key = f"{self.prefix}{index}:{number}"
                number += 1
                kind = rng.randrange(20)
                if kind < 2:
                    second, count = rng.randint(1, 4), 1
                elif kind == 2:
                    second, count = 1, 3
                else:
                    second, count = 3600, 1
                try:
                    plan = client.create_timeout(key, second, count=count, action="shell",
                                                 params={"cmd": self.cmd})
                except ConnectionError:
                    return
                except Exception as exc:  # a refusal would be a bug: report it
                    self.failed.append(f"{key}: {exc!r}")
                    return
                due = [plan.next_time + second * n for n in range(count)]
                self.acked.append(Acked(key, due, time.time(), far=second == 3600))


def fired_occurrences(path: Path) -> Counter[tuple[str, int]]:
    if not path.exists():
        return Counter()
    pairs = (line.split() for line in path.read_text().splitlines())
    return Counter((parts[0], int(parts[1])) for parts in pairs if len(parts) == 2)


def missing_plans(daemon: ForsundProcess, acked: list[Acked], fired_path: Path,
                  wait: float) -> list[Acked]:
    """Acknowledged plans neither stored nor fired (a plan is removed when its last
    occurrence is claimed, before it runs: those get ``wait`` seconds to show up)."""
    with Client("127.0.0.1", daemon.port) as client:
        stored = set(client.get_keys(""))
    deadline = time.monotonic() + wait
    while True:
        fired_keys = {key for key, _ in fired_occurrences(fired_path)}
        missing = [a for a in acked if a.key not in stored and a.key not in fired_keys]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.1)


def run_rounds(tmp_path: Path, fsync: str, rounds: int) -> dict[str, object]:
    seed = int(os.environ.get("FORSUN_FAULT_SEED") or random.randrange(1 << 30))
    print(f"FORSUN_FAULT_SEED={seed}")
    rng = random.Random(seed)
    fired_path = tmp_path / "fired.txt"
    cmd = f'echo "$FORSUN_KEY $FORSUN_TIMESTAMP" >> {fired_path}'
    args = ["--driver-mem-store-fsync", fsync, "--action-shell-cwd", str(tmp_path)]
    acked: list[Acked] = []
    lost: list[tuple[Acked, float]] = []
    kills: list[float] = []
    for round_ in range(rounds + 1):
        daemon = start_forsund(args, workdir=tmp_path)
        try:
            for plan in missing_plans(daemon, acked, fired_path, wait=3.0):
                lost.append((plan, kills[-1] - plan.acked_at))
                acked.remove(plan)
            if round_ == rounds:
                last_due = max((max(a.due) for a in acked if not a.far), default=0)
                time.sleep(max(0.0, last_due + 1 - time.time()))
                deadline = time.monotonic() + FIRE_GRACE
                while time.monotonic() < deadline:
                    fired = fired_occurrences(fired_path)
                    if all((a.key, ts) in fired for a in acked if not a.far for ts in a.due):
                        break
                    time.sleep(0.2)
                break
            load = Load(daemon.port, f"r{round_}:", cmd, rng)
            load.start()
            time.sleep(rng.uniform(0.4, 2.0))
            kills.append(time.time())
            daemon.kill()
            load.stop()
            assert load.failed == []
            acked.extend(load.acked)
        finally:
            daemon.kill()
    fired = fired_occurrences(fired_path)
    due = [(a.key, ts) for a in acked if not a.far for ts in a.due]
    return {
        "seed": seed,
        "acked": len(acked) + len(lost),
        "lost": lost,
        "due": due,
        "missed": [occ for occ in due if occ not in fired],
        "duplicates": sum(fired[occ] - 1 for occ in due if fired[occ] > 1),
        "log": (tmp_path / "forsund.log").read_text(errors="replace"),
    }


def test_kill_9_under_fsync_always_loses_nothing_acknowledged(tmp_path):
    result = run_rounds(tmp_path, "always", rounds=5)
    print(f"fsync=always: {result['acked']} plans acknowledged, {len(result['due'])} "
          f"occurrences due, {result['duplicates']} fired twice, lost {len(result['lost'])}")
    assert result["acked"] > 100, "the load did not run"
    assert result["lost"] == []
    assert result["missed"] == []
    assert "Traceback" not in result["log"]


def test_kill_9_under_fsync_everysec_loses_at_most_about_a_second(tmp_path):
    result = run_rounds(tmp_path, "everysec", rounds=3)
    ages = sorted(age for _, age in result["lost"])
    print(f"fsync=everysec: {result['acked']} plans acknowledged, lost {len(ages)} "
          f"(acknowledged {', '.join(f'{age:.2f}' for age in ages) or '-'} s before the "
          f"kill), {result['duplicates']} occurrences fired twice")
    assert result["acked"] > 100, "the load did not run"
    assert all(age <= 1.5 for age in ages), ages
    assert result["missed"] == []


def create_plans(daemon: ForsundProcess, keys: list[str]) -> None:
    with Client("127.0.0.1", daemon.port) as client:
        for key in keys:
            client.create_timeout(key, 3600, action="shell", params={"cmd": "true"})


def stored_keys(args: list[str], workdir: Path) -> list[str]:
    """The keys a forsund started with ``args`` holds (stopped cleanly afterwards)."""
    daemon = start_forsund(args, workdir=workdir)
    try:
        with Client("127.0.0.1", daemon.port) as client:
            return client.get_keys("")
    finally:
        assert daemon.stop() == 0


def test_a_flipped_bit_in_the_log_stops_forsund_until_it_is_told_to_recover(tmp_path):
    args = ["--driver-mem-store-fsync", "always"]
    keys = [f"plan{i:04d}" for i in range(400)]
    leave_files(args, workdir=tmp_path, create=lambda daemon: create_plans(daemon, keys))
    log_file = tmp_path / "forsun.db.log"
    damaged = flip_bit(log_file, mask=0x20)

    line = refused_start(args, workdir=tmp_path)
    assert f"forsund failed: {log_file} is damaged: " in line and "between offsets" in line
    assert "run forsund once with --driver-mem-store-recover" in line
    assert log_file.read_bytes() == damaged, "the refused start changed the log"

    conf = tmp_path / "recover.conf"
    conf.write_text("[store]\nmem_store_recover = true\n")
    kept = stored_keys([*args, "--conf", str(conf)], tmp_path)
    assert set(kept) <= set(keys) and len(set(keys) - set(kept)) <= 1, "more than one lost"
    assert "recovered with --driver-mem-store-recover" in (tmp_path / "forsund.log").read_text()
    assert [p.read_bytes() for p in tmp_path.glob("forsun.db.log.damaged-*")] == [damaged]
    assert stored_keys(args, tmp_path) == kept


def test_a_torn_tail_is_dropped_and_forsund_starts(tmp_path):
    keys = [f"plan{i}" for i in range(20)]
    leave_files([], workdir=tmp_path, create=lambda daemon: create_plans(daemon, keys))
    with open(tmp_path / "forsun.db.log", "ab") as log_file:
        log_file.write(b"\x30\x00\x00")  # the first bytes of a record's header
    assert stored_keys([], tmp_path) == sorted(keys)
    assert "dropped 3 bytes after the last intact record" in (
        tmp_path / "forsund.log").read_text()


def test_a_damaged_snapshot_stops_forsund_until_it_is_told_to_recover(tmp_path):
    keys = [f"plan{i:04d}" for i in range(1500)]
    # A clean stop writes the snapshot: blocks of 1000 and 500 plans.
    leave_files([], workdir=tmp_path, create=lambda daemon: create_plans(daemon, keys),
                clean_stop=True)
    snapshot = tmp_path / "forsun.db.snapshot"
    damaged = flip_bit(snapshot, 1000)  # inside the first block of plans

    line = refused_start([], workdir=tmp_path)
    assert f"{snapshot} is damaged: " in line
    assert "1000 of its 1500 plans are lost (keys before 'plan1000')" in line
    kept = stored_keys(["--driver-mem-store-recover"], tmp_path)
    assert kept == keys[1000:]
    assert [p.read_bytes() for p in tmp_path.glob("forsun.db.snapshot.damaged-*")] == [damaged]


def test_a_deleted_log_stops_forsund_until_it_is_told_to_start_from_the_snapshot(tmp_path):
    compacted = [f"old{i:02d}" for i in range(30)]
    # A clean stop compacts them into the snapshot.
    leave_files([], workdir=tmp_path, create=lambda daemon: create_plans(daemon, compacted),
                clean_stop=True)
    leave_files([], workdir=tmp_path,
                create=lambda daemon: create_plans(daemon, ["new0", "new1"]))
    (tmp_path / "forsun.db.log").unlink()

    line = refused_start([], workdir=tmp_path)
    assert f"{tmp_path / 'forsun.db.log'} is missing but {tmp_path / 'forsun.db.snapshot'}" \
        in line and "starts from the snapshot alone (30 plans)" in line
    assert stored_keys(["--driver-mem-store-recover"], tmp_path) == compacted
    assert stored_keys([], tmp_path) == compacted


def test_a_second_forsund_on_the_same_files_is_refused_in_one_line(tmp_path):
    (tmp_path / "second").mkdir()
    daemon = start_forsund([], workdir=tmp_path)
    try:
        line = refused_start(["--driver-mem-store-file", str(tmp_path / "forsun.db")],
                             workdir=tmp_path / "second")
    finally:
        daemon.stop()
    assert f"{tmp_path / 'forsun.db'} is in use by another forsund" in line
