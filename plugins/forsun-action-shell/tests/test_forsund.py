"""The shell action inside a real forsund, configured from the command line."""

from __future__ import annotations

import time

from forsun.testing.process import ForsundProcess, start_forsund


def put_plan(daemon: ForsundProcess, key: str, params: dict[str, str]) -> dict:
    return daemon.call("PUT", "/v1/plan", {"key": key, "seconds": 1, "count": 1,
                                           "action": "shell", "params": params})


def test_forsund_fires_allowed_commands_and_refuses_others(tmp_path):
    record = tmp_path / "record.sh"
    deliveries = tmp_path / "deliveries"
    record.write_text(f'#!/bin/sh\necho "$FORSUN_KEY $FORSUN_TIMESTAMP $1" >> {deliveries}\n')
    record.chmod(0o755)
    daemon = start_forsund(["--driver-mem-store-file", str(tmp_path / "db"),
                            "--action-shell-allow", str(record),
                            "--action-shell-cwd", str(tmp_path)], workdir=tmp_path)
    try:
        created = put_plan(daemon, "order-1", {"cmd": f"{record} arg"})
        refused = put_plan(daemon, "order-2", {"cmd": f"touch {tmp_path / 'x'}"})
        deadline = time.monotonic() + 10
        while not deliveries.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        daemon.stop()
    assert created["errcode"] == 0
    assert (refused["errcode"], refused["data"]) == (1004, {})
    assert "--action-shell-allow" in refused["errmsg"]
    assert deliveries.read_text() == f"order-1 {created['data']['next_time']} arg\n"
    assert not (tmp_path / "x").exists()

