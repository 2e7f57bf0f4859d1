"""The shell action inside a real forsund, configured from the command line."""

from __future__ import annotations

import os
import pwd
import time

from forsun.testing.process import ForsundProcess


def put_plan(daemon: ForsundProcess, key: str, params: dict[str, str]) -> dict:
    return daemon.call("PUT", "/v1/plan", {"key": key, "seconds": 1, "count": 1,
                                           "action": "shell", "params": params})


def test_forsund_fires_allowed_commands_and_refuses_others(tmp_path, forsunds):
    record = tmp_path / "record.sh"
    deliveries = tmp_path / "deliveries"
    record.write_text(f'#!/bin/sh\necho "$FORSUN_KEY $FORSUN_TIMESTAMP $1" >> {deliveries}\n')
    record.chmod(0o755)
    daemon = forsunds.start("--driver-mem-store-file", str(tmp_path / "db"),
                            "--action-shell-allow", str(record),
                            "--action-shell-cwd", str(tmp_path))
    created = put_plan(daemon, "order-1", {"cmd": f"{record} arg"})
    refused = put_plan(daemon, "order-2", {"cmd": f"touch {tmp_path / 'x'}"})
    deadline = time.monotonic() + 10
    while not deliveries.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    daemon.stop()
    assert created["errcode"] == 0
    assert (refused["errcode"], refused["data"]) == (1004, {})
    assert "--action-shell-allow" in refused["errmsg"]
    assert deliveries.read_text() == f"order-1 {created['data']['next_time']} arg\n"
    assert not (tmp_path / "x").exists()
    assert "can run the commands --action-shell-allow admits" in daemon.log_text()


def test_forsund_without_a_token_says_who_can_run_commands(tmp_path, forsunds):
    euid = os.geteuid()
    level = "ERROR" if euid == 0 else "WARNING"
    user = f"user {pwd.getpwuid(euid).pw_name!r} (uid {euid})"
    open_daemon = forsunds.start("--driver-mem-store-file", "")
    open_daemon.stop()
    guarded_dir = tmp_path / "guarded"
    guarded_dir.mkdir()
    guarded = forsunds.start("--driver-mem-store-file", "", "--token", "s3cret",
                             workdir=guarded_dir)
    guarded.stop()
    [line] = [line for line in open_daemon.log_text().splitlines()
              if "forsun_action_shell" in line]
    assert f" {level} forsun_action_shell " in line
    assert line.endswith(f"can run any command as {user} by creating a shell plan; lock it "
                         "down: " + ("run forsund as an unprivileged user, with " if euid == 0
                                     else "start forsund with ")
                         + "--token TOKEN and --action-shell-allow /path/to/command (or "
                           "--no-action-shell-enabled) (docs/operations.md, section Hardening)")
    assert "forsun_action_shell" not in guarded.log_text()

