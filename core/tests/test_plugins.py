import json
import subprocess
import sys
import types

import pluggy
import pytest

from forsun import hookimpl
from forsun.plugins import (
    DEFAULT_PLUGINS,
    PluginError,
    collect_actions,
    collect_options,
    describe_plugins,
    get_plugin_manager,
)


def make_plugin(name, **hooks):
    module = types.ModuleType(name)
    for hook, function in hooks.items():
        setattr(module, hook, hookimpl(function))
    return module


def test_builtins_load_like_any_plugin():
    pm = get_plugin_manager(entrypoints=False)
    names = {name for name, _ in pm.list_name_plugin()}
    assert set(DEFAULT_PLUGINS) <= names


def test_entry_points_bring_the_embedded_default():
    pm = get_plugin_manager()
    names = {name for name, _ in pm.list_name_plugin()}
    assert {"store_mem", "action_shell", "action_http"} <= names


def test_a_plugin_can_be_blocked_by_name():
    pm = get_plugin_manager(block=["frontend_http"])
    assert pm.is_blocked("frontend_http")
    assert "http" not in {opt.name for opts in collect_options(pm).values() for opt in opts}


@pytest.mark.parametrize("argv", [["--block-plugin", "core_options"],
                                  ["plugins", "--block-plugin", "core_options"]])
def test_the_essential_plugin_cannot_be_blocked(argv):
    """Blocking the core's options used to die later with an AttributeError."""
    proc = subprocess.run([sys.executable, "-m", "forsun.commands.forsund", *argv],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "forsund: error: --block-plugin core_options: the plugin is essential (it declares "
        "the core's own options) and cannot be blocked"]


def test_only_holds_exactly_the_given_plugins():
    plugin = make_plugin("p1", register_actions=lambda register: register("a1", object))
    pm = get_plugin_manager(only=[plugin])
    assert [p for _, p in pm.list_name_plugin()] == [plugin]
    assert collect_actions(pm).names() == ["a1"]


def test_duplicate_names_are_an_error_naming_both_plugins():
    first = make_plugin("first", register_actions=lambda register: register("dup", object))
    second = make_plugin("second", register_actions=lambda register: register("dup", object))
    pm = get_plugin_manager(only=[first, second])
    with pytest.raises(PluginError, match=r"'first'.*'second'"):
        collect_actions(pm)


def test_misspelled_hook_is_an_error():
    plugin = make_plugin("typo", register_actoins=lambda register: None)
    with pytest.raises(pluggy.PluginValidationError):
        get_plugin_manager(only=[plugin])


def test_describe_lists_what_each_plugin_registers():
    rows = {row["name"]: row for row in describe_plugins(get_plugin_manager())}
    assert rows["core_options"]["distribution"] == "forsun"
    assert "--driver" in rows["core_options"]["options"]


def test_forsund_plugins_command_lists_builtins():
    out = subprocess.run([sys.executable, "-m", "forsun.commands.forsund", "plugins", "--json"],
                         capture_output=True, text=True, check=True).stdout
    rows = {row["name"]: row for row in json.loads(out)}
    assert {"core_options", "frontend_thrift", "frontend_http"} <= set(rows)
    for row in rows.values():
        assert row["version"]


def test_forsund_help_groups_plugin_options():
    out = subprocess.run([sys.executable, "-m", "forsun.commands.forsund", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "plugin core_options" in out and "--driver" in out


def test_forsund_unknown_plugin_flag_exits_with_install_hint():
    proc = subprocess.run([sys.executable, "-m", "forsun.commands.forsund",
                           "--driver-nosuch-host=x"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "forsun-store-nosuch" in proc.stderr
