"""The mem store as forsund's default store: files in the working directory, plans
surviving SIGKILL, and a plan that came due while forsund was down firing after restart."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.asyncio


async def test_plans_survive_sigkill_and_late_ones_fire_after_restart(tmp_path: Path,
                                                                     forsunds) -> None:
    out = tmp_path / "fired.txt"
    daemon = await asyncio.to_thread(forsunds.start, "--driver-mem-store-fsync", "always")
    for i in range(20):
        created = await asyncio.to_thread(daemon.call, "PUT", "/v1/plan", {
            "key": f"hourly/{i:02d}", "seconds": 0, "hour": 1, "count": 0,
            "action": "shell", "params": {"cmd": "true"}})
        assert created["errcode"] == 0, created
    soon = await asyncio.to_thread(daemon.call, "PUT", "/v1/plan", {
        "key": "soon", "seconds": 3, "count": 1, "action": "shell",
        "params": {"cmd": f"echo $FORSUN_TIMESTAMP >> {out}"}})
    assert soon["errcode"] == 0, soon
    info = (await asyncio.to_thread(daemon.call, "GET", "/v1/info"))["data"]
    assert info["mem_store_file"] == str(tmp_path / "forsun.db")
    assert info["mem_store_fsync"] == "always"
    await asyncio.to_thread(daemon.kill)
    assert not out.exists(), "fired before its time"
    assert {"forsun.db.log", "forsun.db.lock"} <= set(os.listdir(tmp_path))
    await asyncio.sleep(max(0.0, soon["data"]["next_time"] + 1 - time.time()))

    daemon = await asyncio.to_thread(forsunds.start)
    keys = (await asyncio.to_thread(daemon.call, "GET", "/v1/keys?prefix=hourly/"))
    assert keys["data"] == [f"hourly/{i:02d}" for i in range(20)]
    deadline = time.monotonic() + 10
    while not out.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert out.read_text().split() == [str(soon["data"]["next_time"])]
    await asyncio.to_thread(daemon.stop)
    assert os.path.exists(tmp_path / "forsun.db.snapshot"), "no snapshot at shutdown"
