"""A full or read-only disk under the mem store's files, with a real forsund.

The data file lives on a small tmpfs the test mounts (root is not stopped by ``chmod``, a
filesystem is). While the disk cannot take a write, creates are refused with 1004 and a
message naming the cause, the server keeps answering, and nothing stored before is damaged:
after the disk recovers, creates work again and a restart (after SIGKILL or a clean stop)
finds every acknowledged plan intact. Recovering damaged files needs room for clean ones:
without it forsund refuses in one line and changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from forsun.client import Client
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.service import STORE_STEP
from forsun.testing.process import (
    ForsundProcess,
    flip_bit,
    leave_files,
    refused_start,
    start_forsund,
)

#: Size of the test filesystem; big enough for the log's header and a few dozen plans.
DISK_SIZE = 256 << 10
FAR = 3600
PARAM = "x" * 2048


def mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A tmpfs of :data:`DISK_SIZE` bytes at ``tmp_path/disk``; skipped (even under CI: no
    server is missing) when this machine does not let the test mount one."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CAP_SYS_ADMIN); the test runs as "
                    f"uid {os.geteuid()}")
    done = mount("-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0755", "tmpfs", str(where))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (mount -t tmpfs: {done.stderr.strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def create(client: Client, key: str) -> None:
    client.create_timeout(key, FAR, action="shell", params={"cmd": "true", "pad": PARAM})


def fill(client: Client, prefix: str, limit: int = 1000) -> tuple[list[str], ForsunPlanError]:
    """Create plans until the server refuses one; (acknowledged keys, the refusal)."""
    acked = []
    for number in range(limit):
        key = f"{prefix}{number}"
        try:
            create(client, key)
        except ForsunPlanError as exc:
            return acked, exc
        acked.append(key)
    raise AssertionError(f"{limit} plans of 2 KiB fit on a {DISK_SIZE}-byte disk")


def assert_intact(client: Client, keys: list[str]) -> None:
    assert sorted(client.get_keys("")) == sorted(keys)
    for key in keys[:: max(1, len(keys) // 10)]:
        assert client.get(key).params == {"cmd": "true", "pad": PARAM}


def assert_recovered(args: list[str], workdir: Path, acked: list[str]) -> None:
    """A new forsund on the same files still has every acknowledged plan."""
    daemon = start_forsund(args, workdir=workdir)
    try:
        with Client("127.0.0.1", daemon.port) as client:
            assert_intact(client, acked)
    finally:
        daemon.stop()


def test_a_full_disk_refuses_creates_with_1004_and_damages_nothing(tmp_path, small_disk):
    """Fill the disk, check the refusals, free space, create more, SIGKILL, restart."""
    filler = small_disk / "filler"
    args = ["--driver-mem-store-file", str(small_disk / "forsun.db"),
            "--driver-mem-store-fsync", "always"]
    daemon = start_forsund(args, workdir=tmp_path)
    try:
        with Client("127.0.0.1", daemon.port) as client:
            filler.write_bytes(b"\0" * (DISK_SIZE // 4))
            acked, refusal = fill(client, "a")
            assert refusal.code == ErrorCode.STORE_FAILED
            assert "No space left on device" in refusal.message
            assert len(acked) > 10
            for attempt in range(3):
                with pytest.raises(ForsunPlanError) as again:
                    create(client, f"refused{attempt}")
                assert again.value.code == ErrorCode.STORE_FAILED
            assert client.ping() == 0
            assert int(client.info()["plan_count"]) == len(acked)
            assert_intact(client, acked)
            filler.unlink()
            for number in range(20):
                create(client, f"b{number}")
                acked.append(f"b{number}")
            assert_intact(client, acked)
    finally:
        daemon.kill()
    assert_recovered(args, tmp_path, acked)


def test_a_clean_stop_on_a_full_disk_keeps_every_plan(tmp_path, small_disk):
    """The snapshot written at a clean stop cannot fit: the stop must still leave files
    that recover every acknowledged plan."""
    args = ["--driver-mem-store-file", str(small_disk / "forsun.db"),
            "--driver-mem-store-fsync", "always"]
    daemon = start_forsund(args, workdir=tmp_path)
    try:
        with Client("127.0.0.1", daemon.port) as client:
            acked, refusal = fill(client, "a")
            assert refusal.code == ErrorCode.STORE_FAILED
    finally:
        code = daemon.stop()
    assert code == 0
    assert_recovered(args, tmp_path, acked)


def fill_up(path: Path) -> None:
    """Write zeros to ``path`` until the disk is full."""
    with open(path, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(bytes(4096))


def test_recovering_on_a_full_disk_is_refused_in_one_line_and_changes_nothing(
        tmp_path, small_disk):
    args = ["--driver-mem-store-file", str(small_disk / "forsun.db"),
            "--driver-mem-store-fsync", "always"]
    keys = [f"a{number}" for number in range(30)]

    def create_keys(daemon: ForsundProcess) -> None:
        with Client("127.0.0.1", daemon.port) as client:
            for key in keys:
                create(client, key)

    leave_files(args, workdir=tmp_path, create=create_keys)
    log_file = small_disk / "forsun.db.log"
    damaged = flip_bit(log_file, mask=0x08)
    filler = small_disk / "filler"
    fill_up(filler)

    line = refused_start([*args, "--driver-mem-store-recover"], workdir=tmp_path)
    assert f"cannot open {small_disk / 'forsun.db'}: " in line
    assert "No space left on device" in line
    assert log_file.read_bytes() == damaged
    filler.unlink()
    daemon = start_forsund([*args, "--driver-mem-store-recover"], workdir=tmp_path)
    try:
        with Client("127.0.0.1", daemon.port) as client:
            kept = client.get_keys("")
    finally:
        daemon.stop()
    assert set(kept) <= set(keys) and len(set(keys) - set(kept)) <= 1
    assert len(list(small_disk.glob("forsun.db.log.damaged-*"))) == 1


def test_a_bulk_creation_cut_short_by_a_full_disk_says_what_was_stored(tmp_path, small_disk):
    """A bulk creation is stored a slice at a time (``STORE_STEP`` plans per store call):
    when the disk fills part way, the answer (1004) names the first plan not stored, the
    plans before it are stored and acknowledged as such (they survive a SIGKILL), and none
    after it is."""
    args = ["--driver-mem-store-file", str(small_disk / "forsun.db"),
            "--driver-mem-store-fsync", "always"]
    keys = [f"bulk{number:05d}" for number in range(10 * STORE_STEP)]
    body = [{"key": key, "seconds": FAR, "action": "shell", "is_time_out": True,
             "params": {"cmd": "true", "pad": "x" * 24}} for key in keys]
    daemon = start_forsund(args, workdir=tmp_path)
    try:
        reply = daemon.call("POST", "/v1/plans?reply=keys", body, timeout=60)
        assert reply["errcode"] == ErrorCode.STORE_FAILED, reply
        assert "No space left on device" in reply["errmsg"]
        said = re.search(r"\[(\d+)\] and the plans after it were not stored, the (\d+) before "
                         r"it were", reply["errmsg"])
        assert said is not None, reply["errmsg"]
        stored = int(said[1])
        assert int(said[2]) == stored and 0 < stored < len(keys) and stored % STORE_STEP == 0
        with Client("127.0.0.1", daemon.port) as client:
            assert client.get_keys("bulk") == keys[:stored]
    finally:
        daemon.kill()
    daemon = start_forsund(args, workdir=tmp_path)
    try:
        with Client("127.0.0.1", daemon.port) as client:
            assert client.get_keys("bulk") == keys[:stored]
    finally:
        daemon.stop()
