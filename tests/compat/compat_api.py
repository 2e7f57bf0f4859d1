"""Item 2, outside a running server: ``forsun.utils.parse_cmd`` on command lines that
exercise every rule of its state machine, ``ensure_bytes`` / ``ensure_unicode``,
``forsun.config`` with the original's defaults and environment variables,
``forsun.status.forsun_status``, and ``Plan.dumps()`` byte for byte / ``Plan.loads()``:
``scripts/api_calls.py`` run by the original's environment and by ours gives the same.
"""

from __future__ import annotations

import pytest
from differences import kept

#: Environment variables of the original's config (ACTION_RETRY_DELAY_RATE=abc is invalid:
#: the original ignored it, as does forsun.config; forsund itself refuses it).
ENVIRONMENT = {"PORT": "6500", "STORE_DRIVER": "redis", "LOG_FILE": "/tmp/compat.log",
               "ACTION_RETRY_DELAY_RATE": "abc", "EXTENSIONS": "a.B"}


@pytest.fixture(scope="module")
def runs(original_python, our_python):
    return {"original": original_python("api_calls.py", env=ENVIRONMENT),
            "ours": our_python("api_calls.py", env=ENVIRONMENT)}


@pytest.mark.parametrize("part", ["parse_cmd", "parse_cmd_no_kwargs", "parse_cmd_unsplit",
                                  "ensure", "version", "config", "config_missing",
                                  "config_set_unknown", "config_set", "dumps", "loads",
                                  "plan_module_dumps", "plan_module_loads"])
def test_same_results(runs, part):
    assert runs["ours"][part] == runs["original"][part]


def test_status_counters(runs):
    kept("status-get-info")
    assert runs["ours"]["status"] == runs["original"]["status"]


def test_the_environment_reached_both(runs):
    """The scenario proves something: the variables changed what the original's config
    answers."""
    config = runs["original"]["config"]
    assert (config["PORT"], config["STORE_DRIVER"], config["LOG_FILE"]) == (
        6500, "redis", "/tmp/compat.log")
    assert config["ACTION_RETRY_DELAY_RATE"] == 1 and config["EXTENSIONS"] == []
