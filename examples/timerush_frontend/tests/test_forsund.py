"""The plugin inside a real forsund child process, loaded through its entry point."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time

from forsun.testing.process import ForsundProcess, Forsunds
from forsun.testing.services import free_port, reachable


def start(forsunds: Forsunds, port: int) -> ForsundProcess:
    """forsund with the mem store (fsync always) and the timerush front end on ``port``;
    returns once that port accepts connections (forsunds.start waits for the built-in front
    ends only, which start before plugins' ones)."""
    daemon = forsunds.start("--driver-mem-store-file", str(forsunds.workdir() / "db"),
                            "--driver-mem-store-fsync", "always",
                            "--timerush-listen", f"127.0.0.1:{port}")
    deadline = time.monotonic() + 20
    while not reachable("127.0.0.1", port, 0.2):
        if daemon.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the timerush front end did not listen:\n{daemon.log_text()}")
        time.sleep(0.05)
    return daemon


def forsun(daemon: ForsundProcess, *command: str) -> subprocess.CompletedProcess[str]:
    """The ``forsun`` command-line client (over Thrift) with ``--json``."""
    return subprocess.run([sys.executable, "-m", "forsun.commands.forsun", "--port",
                           str(daemon.port), "--json", *command],
                          capture_output=True, text=True, timeout=60)


async def get_json(session, url: str) -> dict:
    async with session.get(url) as response:
        return json.loads(await response.read())


async def test_timers_are_forsun_plans_and_survive_kill_9(forsunds, receiver, make_client,
                                                          http_session):
    port = free_port()
    daemon = await asyncio.to_thread(start, forsunds, port)
    client = make_client(f"http://127.0.0.1:{port}")
    try:
        due_later = await client.register(receiver.url("/later"), "never", 3600)
        plan = json.loads((await asyncio.to_thread(forsun, daemon, "get", due_later)).stdout)
        keys = json.loads((await asyncio.to_thread(forsun, daemon, "ls", "timerush:")).stdout)
        info = await get_json(http_session, f"{daemon.http_url}/v1/info")
        due_soon = await client.register(receiver.url("/soon"), "after the crash", 2)
    finally:
        await asyncio.to_thread(daemon.kill)
    assert {name: plan[name] for name in ("action", "is_time_out", "count", "hour", "minute",
                                          "second", "params")} == {
        "action": "timerush", "is_time_out": True, "count": 1, "hour": 1, "minute": 0,
        "second": 0, "params": {"callback_cmd": receiver.url("/later"),
                                "callback_data": "never"}}
    assert keys == [due_later]
    assert info["data"]["timerush_bind_port"] == f"127.0.0.1:{port}"
    assert "timerush" in info["data"]["actions"].split(";")

    restarted = await asyncio.to_thread(start, forsunds, port)
    try:
        [request] = await receiver.wait_async(path="/soon", timeout=15)
        assert (request.key, request.body) == (due_soon, b"after the crash")
        cancelled = await client.unregister(due_later)
        removed = await client.unregister(due_soon)
    finally:
        await asyncio.to_thread(restarted.stop)
    assert cancelled["ret"] == 0 and 3590 <= cancelled["data"]["ttl"] <= 3600
    assert removed == {"ret": 0, "data": {"ttl": 0}}, "a notified timer is gone (as timerush)"
    assert receiver.to("/later") == []


async def test_a_timer_removed_with_forsun_rm_never_fires(forsunds, receiver, make_client):
    port = free_port()
    daemon = await asyncio.to_thread(start, forsunds, port)
    client = make_client(f"http://127.0.0.1:{port}")
    try:
        # 5 s: time enough for the client to start, even on a loaded machine.
        removed = await client.register(receiver.url("/removed"), "x", 5)
        kept = await client.register(receiver.url("/kept"), "x", 5)
        rm = await asyncio.to_thread(forsun, daemon, "rm", removed)
        assert rm.returncode == 0 and json.loads(rm.stdout)["key"] == removed
        [request] = await receiver.wait_async(path="/kept")
        await asyncio.sleep(0.3)
    finally:
        await asyncio.to_thread(daemon.stop)
    assert request.key == kept
    assert receiver.to("/removed") == []


def test_forsund_plugins_lists_the_front_end_and_its_action():
    listing = subprocess.run([sys.executable, "-m", "forsun.commands.forsund", "plugins", "--json"],
                             capture_output=True, text=True, check=True, timeout=60)
    [row] = [row for row in json.loads(listing.stdout) if row["name"] == "frontend_timerush"]
    assert row["distribution"] == "forsun-frontend-timerush"
    assert (row["frontends"], row["actions"]) == (["timerush"], ["timerush"])
    assert {"--timerush-listen", "--timerush-pem", "--timerush-ca"} <= set(row["options"])
    assert "forsun_startup" in row["hooks"]


def test_a_busy_address_stops_forsund_with_a_message_naming_the_flag(forsunds):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        try:
            daemon = forsunds.start("--driver-mem-store-file", "", "--timerush-listen",
                                    f"127.0.0.1:{port}")
        except RuntimeError as exc:  # it exited before its built-in front ends answered
            output = str(exc)
        else:
            assert daemon.proc.wait(timeout=20) != 0
            output = daemon.log_text()
    assert f"--timerush-listen 127.0.0.1:{port}: error while attempting to bind" in output
