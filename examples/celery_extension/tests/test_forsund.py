"""End to end: a real forsund child process fires plans through the celery action to the
real worker, loaded each way a user can load it: as a legacy ``--extension`` (the
distribution's entry point blocked), as the installed distribution with no flag, and both
at once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from forsun.testing.process import ForsundProcess

EXAMPLE = Path(__file__).parent.parent
EXTENSION = "celery_extension.CeleryExtension"


def api(daemon: ForsundProcess, method: str, path: str, body: dict | None = None):
    """The ``data`` of an HTTP API reply (asserting errcode 0)."""
    return daemon.api(method, path, body)


def cli_info(daemon: ForsundProcess) -> dict[str, str]:
    """``forsun --port P info`` (the Thrift RPC ``info``)."""
    out = subprocess.run([sys.executable, "-m", "forsun.commands.forsun", "--port",
                          str(daemon.port), "--json", "info"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return json.loads(out)


def fire_once(daemon: ForsundProcess, worker, params: dict[str, str]) -> None:
    """Create a delay plan firing once a second from now; check the worker ran its task
    with the plan's key, due second and arguments."""
    key = f"e2e/{uuid.uuid4().hex[:8]}"
    plan = api(daemon, "PUT", "/v1/plan", {
        "key": key, "seconds": 1, "count": 1, "action": "celery",
        "params": {"method": "forsun_test.record", "queue": worker.queue,
                   "args": '["order", 42]', "kwargs": '{"state": "unpaid"}', **params}})
    [record] = worker.wait_for(key)
    assert record["forsun_ts"] == plan["next_time"]
    assert (record["args"], record["kwargs"]) == (["order", 42], {"state": "unpaid"})


def stop(daemon: ForsundProcess) -> str:
    assert daemon.stop() == 0, daemon.log_text()
    return daemon.log_text()


def test_the_legacy_extension_runs_from_the_extension_path(worker, tmp_path: Path,
                                                            forsunds) -> None:
    shutil.copy(EXAMPLE / "celery_extension.py", tmp_path)
    daemon = forsunds.start("--block-plugin", "action_celery", "--extension-path=./",
                            f"--extension={EXTENSION}")
    fire_once(daemon, worker, {})
    info = cli_info(daemon)
    http_info = api(daemon, "GET", "/v1/info")
    log = stop(daemon)
    assert "celery" in info["actions"].split(";")
    assert info["extensions"] == EXTENSION
    assert (http_info["actions"], http_info["extensions"]) == (info["actions"], EXTENSION)
    assert f"plugin extension:{EXTENSION} from {tmp_path}/celery_extension.py" in log, log
    assert "extension celery registered action celery" in log


def test_the_installed_distribution_loads_with_no_flag(worker, forsunds) -> None:
    daemon = forsunds.start("--action-celery-broker", "amqp://guest:guest@localhost:5672//")
    fire_once(daemon, worker, {})
    info = cli_info(daemon)
    log = stop(daemon)
    assert "celery" in info["actions"].split(";")
    assert info["extensions"] == ""
    assert f"extension {EXTENSION} loaded as plugin action_celery (forsun-action-celery" in log
    assert "extension celery registered action celery" in log


def test_the_extension_flag_and_the_installed_distribution_load_it_once(forsunds) -> None:
    daemon = forsunds.start(f"--extension-path={EXAMPLE}", f"--extension={EXTENSION}")
    info = cli_info(daemon)
    log = stop(daemon)
    assert info["actions"].split(";").count("celery") == 1
    assert info["extensions"] == EXTENSION
    assert f"--extension {EXTENSION} names that same extension: loaded once" in log
    assert log.count("extension celery registered action celery") == 1
