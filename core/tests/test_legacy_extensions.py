"""Extensions written for the original forsun run unmodified (DESIGN 3.6): a legacy action
and a legacy store (the original's mem store, tornado ``gen.coroutine`` style), loaded with
``--extension`` and from the conf file, under the action and store contracts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from forsun.action.base import ActionError, Firing
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.legacy.action import LegacyActionAdapter
from forsun.legacy.extension import Extension, LegacyExtensionPlugin
from forsun.legacy.loading import PLUGIN_PREFIX, failed_extensions, load_extensions
from forsun.legacy.store import LegacyStoreAdapter, Store, adapt_store
from forsun.plan import Plan
from forsun.plugins import (
    collect_actions,
    collect_stores,
    describe_plugins,
    get_plugin_manager,
)
from forsun.testing import ActionConformance, StoreConformance, StoreFactory
from forsun.testing.options import make_options
from forsun.testing.process import ForsundProcess
from forsun.testing.reference import ReferenceTarget

MODULE = "forsun_legacy_test_ext"
EXTENSION = f"{MODULE}.LegacyExtension"
SECOND = f"{MODULE}.SecondExtension"

#: An extension as a user of the original forsun wrote it (only its imports' package paths
#: are the original's: forsun.extension, forsun.action.action, forsun.store.store).
LEGACY_SOURCE = '''
import asyncio
import json
import os
import pickle
from collections import defaultdict

from tornado import gen

from forsun.action.action import Action, ActionExecuteRetry, ExecuteActionError
from forsun.extension import Extension
from forsun.store.store import Store


def append(path, line):
    with open(path, "a") as fp:
        fp.write(line + "\\n")


class FileAction(Action):
    """Appends [key, ts] to params["path"]; "sleep" waits first; "outcome" fail, retry or
    crash fails; "details" names a file that gets what the action saw."""

    required_params = ("path",)

    async def execute(self, *args, **kwargs):
        await asyncio.sleep(float(self.params.get("sleep") or 0))
        outcome = self.params.get("outcome", "")
        if outcome == "retry":
            raise ActionExecuteRetry()
        if outcome == "fail":
            raise ExecuteActionError("asked to fail")
        if outcome == "crash":
            raise ValueError("crashed")
        loop = asyncio.get_running_loop()
        if self.params.get("details"):
            seen = {"action": self.action, "plan": type(self.plan).__name__,
                    "next_time": self.plan.next_time, "params": self.params,
                    "current_count": self.plan.current_count,
                    "last_timeout": self.plan.last_timeout,
                    "options": self.options is not None, "pid": os.getpid()}
            await loop.run_in_executor(None, append, self.params["details"], json.dumps(seen))
        line = json.dumps([self.plan.key, self.ts])
        await loop.run_in_executor(None, append, self.params["path"], line)


class TornadoAction(Action):
    @gen.coroutine
    def execute(self, *args, **kwargs):
        yield gen.sleep(0)
        append(self.params["path"], json.dumps([self.plan.key, self.ts, "tornado"]))


class LegacyMemStore(Store):
    """The original's mem store: dicts, saved to a session file on uninit."""

    def __init__(self, *args, **kwargs):
        super(LegacyMemStore, self).__init__(*args, **kwargs)
        self.plans = {}
        self.time_plans = defaultdict(dict)
        self.current_time = 0
        self.store_file = "legacy-store.session"

    @gen.coroutine
    def init(self):
        if os.path.exists(self.store_file):
            with open(self.store_file, "rb") as fp:
                data = pickle.load(fp)
            self.plans = data["plans"]
            self.time_plans = defaultdict(dict, data["time_plans"])
            self.current_time = data["current_time"]

    @gen.coroutine
    def uninit(self):
        with open(self.store_file, "wb") as fp:
            pickle.dump({"plans": self.plans, "time_plans": dict(self.time_plans),
                         "current_time": self.current_time}, fp)

    @gen.coroutine
    def set_current(self, current_time):
        self.current_time = current_time
        return self.current_time

    @gen.coroutine
    def get_current(self):
        return self.current_time

    @gen.coroutine
    def set_plan(self, plan):
        self.plans[plan.key] = plan
        return plan

    @gen.coroutine
    def remove_plan(self, key):
        return self.plans.pop(key, None)

    @gen.coroutine
    def get_plan(self, key):
        return self.plans.get(key)

    @gen.coroutine
    def add_time_plan(self, next_time, key):
        self.time_plans[next_time][key] = 0
        return True

    @gen.coroutine
    def get_time_plan(self, next_time, key):
        return self.time_plans[next_time][key]

    @gen.coroutine
    def set_time_plan(self, next_time, key, status):
        last_status = self.time_plans[next_time][key]
        self.time_plans[next_time][key] = status
        return last_status

    @gen.coroutine
    def remove_time_plan(self, next_time, key):
        status = self.time_plans.get(next_time, {}).pop(key, None)
        if next_time in self.time_plans and not self.time_plans[next_time]:
            del self.time_plans[next_time]
        return status

    @gen.coroutine
    def get_time_plans(self, ts):
        return list(self.time_plans.get(ts, {}))

    @gen.coroutine
    def delete_time_plans(self, ts):
        return self.time_plans.pop(ts, None)

    @gen.coroutine
    def get_plan_keys(self, prefix=""):
        return [key for key in self.plans if key.startswith(prefix)]


class LegacyExtension(Extension):
    name = "legacy"

    def register(self):
        self.register_action("legacy_file", FileAction)
        self.register_store("legacymem", LegacyMemStore)

    def init(self):
        append("extension-lifecycle.log", "init")

    def uninit(self):
        append("extension-lifecycle.log", "uninit")


class SecondExtension(Extension):
    name = "second"

    def register(self):
        self.register_action("legacy_tornado", TornadoAction)
        self.not_registered = self.register_action("not_an_action", dict)
'''

#: The conformance suite builds stores from a "module:callable"; this one builds the legacy
#: store exactly as forsund does, through the extension's registration.
TARGET_SOURCE = f'''
from forsun.legacy.extension import LegacyExtensionPlugin
from forsun.plugins import collect_stores, get_plugin_manager
from {MODULE} import LegacyExtension


def legacy_store(options):
    pm = get_plugin_manager(only=[LegacyExtensionPlugin(LegacyExtension)])
    return collect_stores(pm)["legacymem"].factory(options)
'''


@pytest.fixture(scope="module")
def legacy_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory holding the legacy extension module, on ``sys.path`` for this module."""
    path = tmp_path_factory.mktemp("extensions")
    (path / f"{MODULE}.py").write_text(LEGACY_SOURCE)
    (path / f"{MODULE}_target.py").write_text(TARGET_SOURCE)
    sys.path.insert(0, str(path))
    yield path
    sys.path.remove(str(path))
    for name in (MODULE, f"{MODULE}_target"):
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def legacy(legacy_dir: Path):
    """The legacy extension module."""
    import importlib

    return importlib.import_module(MODULE)


def legacy_pm(legacy, *extensions: str):
    return get_plugin_manager(only=[LegacyExtensionPlugin(getattr(legacy, name))
                                    for name in extensions or ("LegacyExtension",)])


# -- the legacy store under the store contract ------------------------------------------------


class TestLegacyStore(StoreConformance):
    @pytest.fixture
    def store_factory(self, legacy_dir, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)  # the legacy store keeps its session file in the cwd
        return StoreFactory(f"{MODULE}_target:legacy_store")


async def test_the_legacy_store_is_adapted_and_declares_no_capability(legacy) -> None:
    store = collect_stores(legacy_pm(legacy))["legacymem"].factory(make_options())
    assert isinstance(store, LegacyStoreAdapter)
    assert isinstance(store.legacy, legacy.LegacyMemStore)
    assert store.capabilities == frozenset()


async def test_the_legacy_time_index_is_kept_in_step(legacy, tmp_path, monkeypatch,
                                                     make_plan) -> None:
    monkeypatch.chdir(tmp_path)
    store = adapt_store(legacy.LegacyMemStore)(make_options())
    await store.open()
    await store.put(make_plan("a", 100))
    await store.put(make_plan("a", 200))
    await store.put(make_plan("b", 200))
    assert dict(store.legacy.time_plans) == {200: {"a": 0, "b": 0}}
    [claimed, _] = await store.claim(200, node="n", lease_until=time.time() + 60)
    await store.reschedule(claimed, None)
    await store.remove("b")
    assert dict(store.legacy.time_plans) == {}
    assert store.legacy.plans == {}


async def test_reopening_rebuilds_the_due_index_from_the_legacy_data(
        legacy, tmp_path, monkeypatch, make_plan) -> None:
    monkeypatch.chdir(tmp_path)
    factory = adapt_store(legacy.LegacyMemStore)
    store = factory(make_options())
    await store.open()
    plans = [make_plan("late", 300), make_plan("early", 100), make_plan("mid", 200)]
    await store.put_many(plans)
    await store.set_checkpoint(150)
    await store.close()
    reopened = factory(make_options())
    await reopened.open()
    assert await reopened.get_checkpoint() == 150
    assert await reopened.due(0, 1000) == sorted(plans, key=lambda plan: plan.next_time)
    claimed = await reopened.claim(250, node="n", lease_until=time.time() + 60)
    assert [plan.key for plan in claimed] == ["early", "mid"]


async def test_a_store_refusing_a_plan_is_error_1004(make_plan) -> None:
    class Refusing(Store):
        async def get_plan(self, key):
            return None

        async def add_time_plan(self, next_time, key):
            return True

        async def set_plan(self, plan):
            return False

    store = adapt_store(Refusing)(make_options())
    with pytest.raises(ForsunPlanError) as caught:
        await store.put(make_plan("k"))
    assert caught.value.code == ErrorCode.STORE_FAILED
    assert "Refusing" in caught.value.message and "'k'" in caught.value.message


def test_register_store_refuses_what_is_no_store_class(legacy) -> None:
    extension = Extension()
    assert extension.register_store("bad", legacy.FileAction) is False
    assert extension.register_store("good", legacy.LegacyMemStore) is True
    with pytest.raises(TypeError, match="neither"):
        adapt_store(dict)


# -- the legacy action under the action contract ----------------------------------------------


class TestLegacyAction(ActionConformance):
    @pytest.fixture
    def action(self, legacy):
        return collect_actions(legacy_pm(legacy))["legacy_file"].factory(make_options())

    @pytest.fixture
    def target(self, tmp_path):
        return ReferenceTarget(tmp_path / "deliveries.jsonl")


def firing(params: dict[str, str], key: str = "k1", ts: int = 1_700_000_000) -> Firing:
    plan = Plan(key=key, action="legacy_file", params=params, next_time=ts)
    return Firing(key, ts, params, plan)


async def test_the_action_sees_ts_plan_action_params_and_options(legacy, tmp_path) -> None:
    action = collect_actions(legacy_pm(legacy))["legacy_file"].factory(make_options())
    assert isinstance(action, LegacyActionAdapter)
    params = {"path": str(tmp_path / "out"), "details": str(tmp_path / "details")}
    await action.execute(firing(params))
    seen = json.loads((tmp_path / "details").read_text())
    assert seen["action"] == "legacy_file"
    # As the original handed it over: after this occurrence (second 0 of every minute).
    assert (seen["plan"], seen["next_time"], seen["current_count"], seen["last_timeout"]) == (
        "Plan", 1_700_000_040, 1, 1_700_000_000)
    assert seen["params"] == params
    assert seen["options"] is True


@pytest.mark.parametrize(("outcome", "retry", "message"), [
    ("retry", True, "FileAction k1: asked for a retry"),
    ("fail", False, "FileAction k1: ExecuteActionError: asked to fail"),
    ("crash", False, "FileAction k1: ValueError: crashed"),  # the original did not retry
])
async def test_failures_map_as_in_the_original(legacy, tmp_path, outcome, retry,
                                               message) -> None:
    action = collect_actions(legacy_pm(legacy))["legacy_file"].factory(make_options())
    with pytest.raises(ActionError) as caught:
        await action.execute(firing({"path": str(tmp_path / "out"), "outcome": outcome}))
    assert caught.value.retry is retry
    assert str(caught.value) == message


async def test_tornado_coroutine_actions_run(legacy, tmp_path) -> None:
    action = collect_actions(legacy_pm(legacy, "SecondExtension"))["legacy_tornado"].factory(
        make_options())
    await action.execute(firing({"path": str(tmp_path / "out")}, key="t1", ts=5))
    assert json.loads((tmp_path / "out").read_text()) == ["t1", 5, "tornado"]


def test_register_action_refuses_what_is_no_action_class(legacy) -> None:
    extension = legacy.SecondExtension()
    extension.register()
    assert extension.not_registered is False
    assert collect_actions(legacy_pm(legacy, "SecondExtension")).names() == ["legacy_tornado"]


def test_actions_of_the_new_contract_may_be_registered_too() -> None:
    from forsun.testing.reference import ReferenceAction

    class Modern(Extension):
        def register(self):
            self.register_action("modern", ReferenceAction)

    registry = collect_actions(get_plugin_manager(only=[LegacyExtensionPlugin(Modern)]))
    assert registry["modern"].factory is ReferenceAction


# -- loading: --extension, the conf file, clashes ---------------------------------------------


def test_extensions_load_as_plugins_named_after_them(legacy_dir) -> None:
    pm = get_plugin_manager(entrypoints=False)
    load_extensions(pm, str(legacy_dir), [EXTENSION, SECOND, EXTENSION])
    plugins = {name: plugin for name, plugin in pm.list_name_plugin()
               if name.startswith(PLUGIN_PREFIX)}
    assert set(plugins) == {PLUGIN_PREFIX + EXTENSION, PLUGIN_PREFIX + SECOND}
    assert plugins[PLUGIN_PREFIX + EXTENSION].also_requested == [EXTENSION]
    assert {"legacy_file", "legacy_tornado"} <= set(collect_actions(pm).names())
    assert "legacymem" in collect_stores(pm)


@pytest.mark.parametrize(("name", "problem"), [
    ("NoModule", "expected module.Class"),
    ("forsun_no_such_module.Ext", "cannot import forsun_no_such_module"),
    (f"{MODULE}.Missing", f"{MODULE} has no Missing"),
    (f"{MODULE}.FileAction", "is not a forsun.extension.Extension subclass"),
])
def test_an_extension_that_cannot_load_is_kept_as_failed(legacy_dir, name, problem) -> None:
    pm = get_plugin_manager(entrypoints=False)
    load_extensions(pm, str(legacy_dir), [name, EXTENSION, name])
    (failed,) = failed_extensions(pm)
    assert (failed.dotted, pm.get_name(failed)) == (name, PLUGIN_PREFIX + name)
    assert problem in failed.failure
    assert "legacy_file" in collect_actions(pm)  # the others load all the same
    (row,) = [row for row in describe_plugins(pm) if row["name"] == PLUGIN_PREFIX + name]
    assert problem in row["failed"]


def test_an_extension_replaces_an_installed_action_with_a_warning(tmp_path, forsunds) -> None:
    (tmp_path / "replacing_ext.py").write_text(textwrap.dedent('''
        from forsun.action.action import Action
        from forsun.extension import Extension

        class MyShell(Action):
            async def execute(self, *args, **kwargs):
                with open(self.params["cmd"], "a") as fp:
                    fp.write("%s %s\\n" % (self.plan.key, self.ts))

        class ReplacingExtension(Extension):
            def register(self):
                self.register_action("shell", MyShell)
    '''))
    out = tmp_path / "fired"
    daemon = forsunds.start(f"--extension-path={tmp_path}",
                            "--extension=replacing_ext.ReplacingExtension")
    plan = api(daemon, "PUT", "/v1/plan", {"key": "replaced", "seconds": 1, "count": 1,
                                           "action": "shell", "params": {"cmd": str(out)}})
    deadline = time.monotonic() + 15
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.stop() == 0
    assert out.read_text() == f"replaced {plan['next_time']}\n"
    assert ("action 'shell' of plugin 'action_shell' is replaced by plugin "
            "'extension:replacing_ext.ReplacingExtension'") in daemon.log_text()


# -- end to end: a real forsund -----------------------------------------------------------------


def api(daemon: ForsundProcess, method: str, path: str, body: dict | None = None):
    return daemon.api(method, path, body)


def wait_for_lines(path: Path, count: int, timeout: float = 15.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)
    raise AssertionError(f"{path} has fewer than {count} lines within {timeout:g}s")


def test_forsund_runs_a_legacy_action_on_a_legacy_store(legacy_dir, tmp_path,
                                                         forsunds) -> None:
    args = [f"--extension-path={legacy_dir}", f"--extension={EXTENSION}", "--driver=legacymem"]
    out, details = tmp_path / "fired.jsonl", tmp_path / "details.jsonl"
    daemon = forsunds.start(*args)
    fired = api(daemon, "PUT", "/v1/plan", {
        "key": "legacy/fires", "seconds": 1, "count": 1, "action": "legacy_file",
        "params": {"path": str(out), "details": str(details)}})
    waiting = api(daemon, "PUT", "/v1/plan", {
        "key": "legacy/waits", "seconds": 3600, "action": "legacy_file",
        "params": {"path": str(out)}})
    assert wait_for_lines(out, 1) == [["legacy/fires", fired["next_time"]]]
    info = api(daemon, "GET", "/v1/info")
    assert api(daemon, "GET", "/v1/keys?prefix=legacy/") == ["legacy/waits"]
    assert daemon.stop() == 0
    log = daemon.log_text()
    assert json.loads(details.read_text())["pid"] == daemon.proc.pid
    assert "legacy_file" in info["actions"].split(";")
    assert (info["current_store"], info["extensions"]) == ("legacymem", EXTENSION)
    assert "legacymem" in info["stores"].split(";")
    assert "extension legacy registered action legacy_file" in log
    assert "extension legacy registered store legacymem" in log
    assert (tmp_path / "extension-lifecycle.log").read_text().split() == ["init", "uninit"]

    restarted = forsunds.start(*args)
    assert api(restarted, "GET", "/v1/plan?key=legacy/waits")["next_time"] == \
        waiting["next_time"]
    due = api(restarted, "GET", f"/v1/time?timestamp={waiting['next_time']}")
    assert [plan["key"] for plan in due["plans"]] == ["legacy/waits"]
    assert restarted.stop() == 0


def test_forsund_loads_extensions_from_the_conf_file(legacy_dir, tmp_path, forsunds) -> None:
    conf = tmp_path / "forsun.conf"
    conf.write_text(textwrap.dedent(f"""
        [store]
        driver=legacymem

        [extension]
        path={legacy_dir}
        extensions={EXTENSION};{SECOND};a
    """))
    out = tmp_path / "fired.jsonl"
    daemon = forsunds.start(f"--conf={conf}")
    plan = api(daemon, "PUT", "/v1/plan", {
        "key": "conf/tornado", "seconds": 1, "count": 1, "action": "legacy_tornado",
        "params": {"path": str(out)}})
    assert wait_for_lines(out, 1) == [["conf/tornado", plan["next_time"], "tornado"]]
    info = api(daemon, "GET", "/v1/info")
    assert daemon.stop() == 0
    assert info["extensions"] == f"{EXTENSION};{SECOND};a"
    assert info["current_store"] == "legacymem"
    assert {"legacy_file", "legacy_tornado"} <= set(info["actions"].split(";"))
    assert "extension second registered action legacy_tornado" in daemon.log_text()
    # A placeholder name, as the original's sample conf file has: logged, forsund runs on.
    assert info["failed_extensions"] == "a: --extension 'a': expected module.Class"
    assert ("ERROR forsun.legacy.plugin extension a failed to load: --extension 'a': "
            "expected module.Class; forsund runs without it") in daemon.log_text()
    listed = subprocess.run([sys.executable, "-m", "forsun.commands.forsund", "plugins",
                             f"--conf={conf}"], capture_output=True, text=True, timeout=60)
    assert "extension:a  FAILED: --extension 'a': expected module.Class\n" in listed.stdout

