"""The original forsun's APIs beyond extensions (issue 22): its Python clients against a real
forsund, ``forsun.config`` / ``status`` / ``timer`` over a running service, ``Plan.dumps`` /
``loads``, the module-level registries and a name an extension replaces, and forsund's
habits (``--demon VALUE``, environment variables, the log file and its rotation, SIGHUP).
``tests/compat`` checks the same against the original itself; these run with the core's
tests.
"""

from __future__ import annotations

import asyncio
import logging.handlers
import os
import signal
import subprocess
import sys

import msgpack
import pytest
from tornado import gen
from tornado.ioloop import IOLoop

import forsun
import forsun.clients
from forsun import config, status, timer
from forsun.errors import ForsunPlanError
from forsun.legacy import config as legacy_config
from forsun.legacy import running
from forsun.legacy.argv import daemon_flags
from forsun.legacy.config import environment_values
from forsun.logsetup import log_file, log_handler
from forsun.options import ConfigError, resolve
from forsun.plan import Plan as ModernPlan
from forsun.plugins import (
    PluginError,
    Registry,
    collect_actions,
    collect_options,
    get_plugin_manager,
)
from forsun.stats import Stats
from forsun.testing.options import declared_options, make_options


@pytest.fixture(scope="module")
def forsund(module_forsunds):
    return module_forsunds.start()


# -- the clients -------------------------------------------------------------------------------


def test_thrift_client_as_the_original(forsund):
    client = forsun.ThriftClient(forsund.port, "127.0.0.1")  # port first, as the original
    client.connect()
    plan = client.create_timeout("legacy:sync", 3600, params={"cmd": "true"})
    assert (plan.key, plan.second, plan.count, plan.action) == ("legacy:sync", 3600, 1, "shell")
    fixed = client.create("legacy:fixed", 0, 30, 10, -1, -1, -1, "shell", {"cmd": "ls"})
    assert (fixed.hour, fixed.minute, fixed.is_time_out) == (10, 30, False)
    assert client.get_keys("legacy:") == ["legacy:fixed", "legacy:sync"]
    assert client.execute("getKeys", prefix="legacy:s") == ["legacy:sync"]
    assert client.remove("legacy:sync").key == "legacy:sync"
    with pytest.raises(ForsunPlanError) as missing:
        client.get("legacy:sync")
    assert (missing.value.code, type(missing.value)) == (1003, forsun.clients.ForsunPlanError)
    assert "current_time" in client.info()
    client.close()


def test_connect_fails_at_once_without_a_server():
    from forsun.testing.services import free_port

    with pytest.raises(ConnectionError):
        forsun.ThriftClient(free_port()).connect()


def test_tor_thrift_client_from_tornado_and_asyncio(forsund):
    @gen.coroutine
    def with_tornado():
        client = forsun.TorThriftClient(forsund.port, "127.0.0.1", max_stream=2)
        plan = yield client.create_timeout("legacy:tornado", 3600, params={"cmd": "true"})
        got = yield client.get(plan.key)
        return got.next_time == plan.next_time

    async def with_asyncio():
        client = forsun.TorThriftClient(forsund.port)
        removed = await client.remove("legacy:tornado")
        return removed.key

    assert IOLoop.current().run_sync(with_tornado) is True
    assert asyncio.run(with_asyncio()) == "legacy:tornado"


# -- config, status, timer over a running service ---------------------------------------------


class FakeService:
    """What the legacy modules read of a running service."""

    def __init__(self, options, clock=lambda: 1_700_000_000.75):
        self.options = options
        self.stats = Stats()
        self.clock = clock
        from datetime import datetime

        self.start_time = datetime.now().astimezone()


@pytest.fixture
def bound():
    """A service bound as the legacy plugin binds the running one; unbound after."""
    service = FakeService(make_options(port=7001, action_http_max_clients=12,
                                       extension=["a.B"]))
    running.bind(service)
    legacy_config.bind(service.options)
    yield service
    running.bind(None)
    legacy_config.bind(None)
    legacy_config._overrides.clear()


def test_config_reads_the_running_options_by_the_original_keys(bound):
    assert config.get("PORT") == 7001
    assert config.get("ACTION_HTTP_MAX_CLIENTS") == 12
    assert config.get("EXTENSIONS") == ["a.B"]
    assert config.get("STORE_DRIVER") == "mem"
    assert config.get("STORE_REDIS_BULK_SIZE") == 5  # no equivalent: the original's default
    assert config.get("NO_SUCH_KEY", "dflt") == "dflt"
    assert config.set("PORT", 1) == 7001 and config.get("PORT") == 1
    with pytest.raises(KeyError):
        config.set("NO_SUCH_KEY", 1)
    assert config.update({"NEW_KEY": 2})["NEW_KEY"] == 2


def test_status_counters_are_the_running_services(bound):
    bound.stats.inc("created_count", 3)
    status.forsun_status.action_retried_count += 2
    status.forsun_status.inc("my_count", 5)
    assert status.forsun_status.created_count == 3
    assert bound.stats.counters["action_retried_count"] == 2
    info = status.forsun_status.get_info()
    assert (info["created_count"], info["my_count"]) == ("3", "5")
    status.forsun_status.set_count = 1  # a new attribute is a counter too
    assert status.forsun_status.customs == {"my_count": 5, "set_count": 1}
    assert status.forsun_status.get_info()["set_count"] == "1"
    with pytest.raises(AttributeError):
        status.forsun_status.never_set  # noqa: B018


def test_timer_current_is_the_services_second(bound):
    assert timer.current() == 1_700_000_000


# -- Plan.dumps / loads --------------------------------------------------------------------------


def test_plan_dumps_in_the_original_encoding_and_loads_back():
    plan = forsun.Plan(key="k", second=5, is_time_out=True, count=2, next_time=2_000_000_000,
                       action="http", params={"url": "http://h/"})
    data = plan.dumps()
    fields = msgpack.unpackb(data, raw=True)
    assert list(fields)[:3] == [b"key", b"second", b"minute"]  # raw strings, its order
    assert len(fields) == 16 and data[0] == 0xDE  # a map16, as msgpack < 1.0 wrote it
    loaded = forsun.Plan.loads(data)
    assert loaded == plan and loaded.next_time == 2_000_000_000
    assert ModernPlan(**plan.to_dict()) == plan  # equal to the modern class, both ways
    assert plan == ModernPlan(**plan.to_dict())


def test_forsun_plan_plan_has_dumps_and_loads_too():
    """The original's import path of its plan class: ``from forsun.plan import Plan``."""
    plan = ModernPlan(key="k", second=5, is_time_out=True, count=2, next_time=2_000_000_000,
                      action="http", params={"url": "http://h/"})
    assert plan.dumps() == forsun.Plan.of(plan).dumps()
    loaded = ModernPlan.loads(plan.dumps())
    assert type(loaded) is ModernPlan and loaded == plan


# -- registries --------------------------------------------------------------------------------


def test_a_replacing_plugin_wins_whatever_the_order():
    registry = Registry("action")
    registry.add("shell", "legacy", "extension:x", replaces=True)
    registry.add("shell", "builtin", "action_shell")
    assert registry["shell"].factory == "legacy"
    registry.add("shell", "later", "extension:y", replaces=True)
    assert registry["shell"].factory == "later"
    assert registry.replaced == [("shell", "action_shell", "extension:x"),
                                 ("shell", "extension:x", "extension:y")]
    registry.add("other", "a", "p1")
    with pytest.raises(PluginError, match="registered by both"):
        registry.add("other", "b", "p2")


def test_module_level_register_action(monkeypatch):
    from forsun.legacy import registry

    monkeypatch.setitem(registry.unowned, "action", {})

    class Echo(forsun.Action):
        async def execute(self, *args, **kwargs):
            pass

    assert forsun.action.register_action("echo", Echo) is True
    assert forsun.action.register_action("bad", dict) is False
    assert forsun.action.get_driver_names() == ["echo"]
    registered = collect_actions(get_plugin_manager(only=["forsun.legacy.plugin"]))
    assert registered["echo"].plugin == "forsun.legacy.plugin"


# -- forsund's habits ----------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "expected"), [
    (["--demon"], ["--demon"]),
    (["--demon", "1", "--port", "1"], ["--demon", "--port", "1"]),
    (["--demon", "0"], ["--demon"]),  # bool("0") is true, as the original's argparse said
    (["--demon="], ["--no-demon"]),
    (["--nodemon", "--demon"], ["--demon", "--no-demon"]),  # nodemon wins in any order
    (["--nodemon", "0"], ["--no-demon"]),
    (["--nodemon="], []),
    (["--port", "1"], ["--port", "1"]),
])
def test_demon_flags_as_the_original_read_them(argv, expected):
    assert daemon_flags(argv) == expected


def test_environment_variables_rank_below_the_file_and_the_flags(tmp_path):
    declared = collect_options(get_plugin_manager())
    found = environment_values(declared_options(), {
        "PORT": "7100", "BIND_ADDRESS": "0.0.0.0", "LOG_FILE": "/x.log", "EXTENSIONS": "a.B",
        "STORE_REDIS_BULK_SIZE": "9", "ACTION_HTTP_MAX_CLIENTS": "3"})
    assert found.values == {"port": 7100, "bind": "0.0.0.0", "log": "/x.log",
                            "action_http_max_clients": 3}
    assert found.unmatched == ["STORE_REDIS_BULK_SIZE"]
    conf = tmp_path / "forsun.conf"
    conf.write_text("bind_address=127.0.0.2\nport=7200\n")
    options = resolve(["--conf", str(conf), "--port", "7300"], declared,
                      environ=found.values)
    assert (options.port, options.bind, options.log) == (7300, "127.0.0.2", "/x.log")
    with pytest.raises(ConfigError, match="environment variable PORT='abc'"):
        environment_values(declared_options(), {"PORT": "abc"})


def test_the_log_file(tmp_path):
    assert log_file(make_options(demon=True)) == "/var/log/forsun.log"
    assert log_file(make_options()) == ""  # stderr in the foreground
    assert log_file(make_options(log="-", demon=True)) == ""
    path = str(tmp_path / "f.log")
    daily = log_handler(make_options(log=path, log_rotate="day", log_backup_count=3))
    sized = log_handler(make_options(log=path, log_rotate="1.5K"))
    assert isinstance(daily, logging.handlers.TimedRotatingFileHandler)
    assert (daily.when, daily.backupCount) == ("MIDNIGHT", 3)
    assert isinstance(sized, logging.handlers.RotatingFileHandler)
    assert (sized.maxBytes, sized.backupCount) == (1536, 64)
    for handler in (daily, sized):
        handler.close()
    with pytest.raises(ConfigError, match="--log-rotate '10X'"):
        log_handler(make_options(log=path, log_rotate="10X"))


@pytest.mark.parametrize(("args", "env", "message"), [
    ([], {"PORT": "abc"}, "environment variable PORT='abc'"),
    (["--log", "/nonexistent-dir/forsun.log"], {}, "cannot open the log file "
                                                   "/nonexistent-dir/forsun.log"),
])
def test_start_up_refusals_are_one_line(tmp_path, args, env, message):
    result = subprocess.run([sys.executable, "-m", "forsun.commands.forsund", *args],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={**os.environ, **env})
    assert result.returncode == 1
    assert result.stderr.startswith(f"forsund: error: {message}")
    assert len(result.stderr.splitlines()) == 1


def test_sighup_stops_cleanly_and_the_foreground_is_said(tmp_path, forsunds):
    daemon = forsunds.start("--driver-mem-store-file", str(tmp_path / "db"))
    daemon.api("PUT", "/v1/plan", {"key": "hup", "seconds": 3600, "count": 1,
                                   "action": "shell", "params": {"cmd": "true"}})
    assert daemon.stop(signal.SIGHUP) == 0
    log = daemon.log_text()
    assert "forsund stopped" in log
    assert "forsund runs in the foreground" in log and "--demon to detach" in log
    restarted = forsunds.start("--driver-mem-store-file", str(tmp_path / "db"))
    assert restarted.api("GET", "/v1/plan?key=hup")["key"] == "hup"
