"""Item 2: an extension written for the original (``legacy_ext/compat_extension.py``) uses
every API an extension reaches: ``from forsun import Extension, Action, Store, Plan, config,
version, version_info``, ``forsun.config`` with the original's keys and environment
variables, ``forsun.status.forsun_status``, ``forsun.timer.current()``, ``forsun.utils``,
``forsun.action.register_action`` / ``get_driver_names``, ``forsun.store.register_store`` /
``get_store_names``, ``Plan.dumps()`` / ``Plan.loads()``. Loaded unmodified into both
forsund, beside a placeholder extension that does not exist (as the original's sample conf
file names), it must see the same, replace the built-in shell action, and both servers
must run on.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from compat_http import call
from differences import kept
from original import server_pair

HERE = Path(__file__).parent
EXTENSION = "compat_extension.CompatExtension"


def wait_for(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written within {timeout:g}s")


@pytest.fixture(scope="module")
def seen(venv, tmp_path_factory):
    """What the extension saw and did in each forsund: ``{"original": ..., "ours": ...}``."""
    workdir = tmp_path_factory.mktemp("extension")
    extra = [f"--extension-path={HERE / 'legacy_ext'}", f"--extension={EXTENSION}",
             "--extension=placeholder"]
    seen = {}
    with server_pair(venv, workdir, extra=extra,
                     env={"ACTION_RETRY_MAX_COUNT": "5"}) as servers:
        for name, server in zip(("original", "ours"), servers, strict=True):
            seen[name] = {"marker": server.workdir / "init-marker"}
            report, replaced = workdir / f"{name}.report", workdir / f"{name}.replaced"
            for key, action, params in (
                    ("ext:report", "report", {"path": str(report), "port": str(server.port)}),
                    ("ext:shell", "shell", {"cmd": str(replaced)})):
                answer = call(server, "PUT", "/v1/plan", {"key": key, "seconds": 1, "count": 1,
                                                          "action": action, "params": params})
                assert answer[1]["errcode"] == 0, answer
            seen[name]["report"] = json.loads(wait_for(report))
            seen[name]["replaced"] = wait_for(replaced)
            seen[name]["info"] = call(server, "GET", "/v1/info")[1]["data"]
        seen["original"]["log"] = servers[0].log_text()
        seen["ours"]["log"] = servers[1].log_text()
    return seen


def test_the_extension_sees_the_same_api(seen):
    assert seen["ours"]["report"] == seen["original"]["report"]


def test_the_report_shows_what_the_scenario_expects(seen):
    """The scenario proves something: what the original's own run saw."""
    report = seen["original"]["report"]
    assert report["config"]["ACTION_RETRY_MAX_COUNT"] == 5  # from the environment
    assert report["config"]["ACTION_HTTP_REQUEST_TIMEOUT"] == 120
    assert report["config"]["PORT is the server's"] is True
    assert report["config"]["set then get"] == "compat/1"
    assert report["status"]["custom in info"] == "2"
    assert report["drivers"] == ["http", "module_report", "report", "shell"]
    assert report["stores"] == ["compat_store", "mem"]
    assert report["timer"] is True


def test_an_existing_action_is_replaced(seen):
    assert seen["original"]["replaced"] == seen["ours"]["replaced"] == "replaced"
    assert "action 'shell' of plugin 'action_shell' is replaced" in seen["ours"]["log"]


def test_a_missing_extension_keeps_both_servers_running(seen):
    assert "load extension error: placeholder" in seen["original"]["log"]
    assert ("extension placeholder failed to load: --extension 'placeholder': expected "
            "module.Class; forsund runs without it") in seen["ours"]["log"]
    assert seen["ours"]["info"]["failed_extensions"].startswith("placeholder: ")
    for name in ("original", "ours"):
        assert seen[name]["info"]["extensions"] == f"{EXTENSION};placeholder"
        assert "report" in seen[name]["info"]["actions"].split(";")


def test_init_ran(seen):
    kept("late-registration")
    for name in ("original", "ours"):
        assert seen[name]["marker"].read_text() == "init"
