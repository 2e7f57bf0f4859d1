"""The shell action running real /bin/sh commands."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import pytest
import pytest_asyncio

from forsun.action import ActionError
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.plugins import collect_actions, collect_options, get_plugin_manager
from forsun.testing.options import make_options
from forsun_action_shell.action import OUTPUT_LIMIT, ShellAction, parse_env


@pytest.fixture
def action(tmp_path):
    """The shell action waiting for its commands (``--action-shell-wait``)."""
    return ShellAction(make_options(action_shell_cwd=str(tmp_path), action_shell_wait=True))


@pytest_asyncio.fixture
async def starting(tmp_path):
    """The shell action as configured by default: it starts commands and returns."""
    action = ShellAction(make_options(action_shell_cwd=str(tmp_path)))
    yield action
    await action.close()


async def appeared(path, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        await asyncio.sleep(0.02)
    return False


async def shell_records(caplog, count: int = 1, seconds: float = 10.0) -> list:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        records = [r for r in caplog.records if r.name.startswith("forsun_action_shell")
                   and r.levelno >= logging.INFO]
        if len(records) >= count:
            return records
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} shell log records within {seconds:g}s")


# -- by default, as the original: done once started -------------------------------------------


async def test_by_default_a_firing_is_done_once_its_command_started(starting, tmp_path,
                                                                     make_firing):
    started, finished = tmp_path / "started", tmp_path / "finished"
    await starting.execute(make_firing({"cmd": f"touch {started}; sleep 2; touch {finished}"}))
    assert not finished.exists()  # execute returned while the command runs
    assert await appeared(started) and await appeared(finished)


async def test_by_default_the_exit_status_and_output_are_logged(starting, make_firing,
                                                                 caplog):
    caplog.set_level(logging.INFO)
    await starting.execute(make_firing({"cmd": "echo broken; exit 3"}, key="k-nowait"))
    [record] = await shell_records(caplog)
    assert record.levelno == logging.WARNING
    assert "exited with code 3" in record.getMessage()
    assert "broken" in record.getMessage() and "k-nowait" in record.getMessage()


async def test_by_default_a_command_outlives_the_action_timeout_and_close(starting, tmp_path,
                                                                          make_firing):
    finished = tmp_path / "finished"
    async with asyncio.timeout(0.5):  # the engine's --action-timeout, much shortened
        await starting.execute(make_firing({"cmd": f"sleep 1; touch {finished}"}))
    await starting.close()
    assert await appeared(finished), "the command was killed"


async def test_a_command_that_cannot_start_fails_without_retry(starting, make_firing):
    with pytest.raises(ActionError) as failure:
        await starting.execute(make_firing({"cmd": "true", "cwd": "does-not-exist"}))
    assert not failure.value.retry
    assert "could not start" in str(failure.value)


async def test_the_wait_param_overrides_the_option(starting, action, make_firing):
    with pytest.raises(ActionError, match="exited with code 3"):
        await starting.execute(make_firing({"cmd": "exit 3", "wait": "1"}))
    await action.execute(make_firing({"cmd": "exit 3", "wait": "0"}))  # no error: started
    with pytest.raises(ForsunPlanError) as refused:
        starting.validate({"cmd": "true", "wait": "maybe"})
    assert refused.value.code == ErrorCode.STORE_FAILED
    assert "params.wait" in refused.value.message


# -- waiting (--action-shell-wait or the wait param) ------------------------------------------


async def test_key_timestamp_and_server_environment(action, tmp_path, make_firing,
                                                    monkeypatch):
    monkeypatch.setenv("FORSUN_TEST_SERVER_VAR", "from-server")
    out = tmp_path / "out"
    cmd = f'echo "$FORSUN_KEY $FORSUN_TIMESTAMP $FORSUN_TEST_SERVER_VAR" >> {out}'
    await action.execute(make_firing({"cmd": cmd}, key="order-9", ts=1_700_000_321))
    assert out.read_text() == "order-9 1700000321 from-server\n"


async def test_env_param(action, tmp_path, make_firing):
    out = tmp_path / "out"
    cmd = f'printf "%s|%s|%s|%s" "$A" "$B" "$C" "$FORSUN_KEY" > {out}'
    await action.execute(make_firing({"cmd": cmd,
                                      "env": "A=1; B=x=y ;;C=;FORSUN_KEY=spoofed"},
                                     key="real"))
    assert out.read_text() == "1|x=y ||real"


def test_parse_env():
    assert parse_env("a=1;b=c") == {"a": "1", "b": "c"}
    assert parse_env(" x = padded ;; y==z;") == {"x": " padded ", "y": "=z"}
    assert parse_env("") == {}
    for bad in ("novalue", "=x", "1A=2", "a-b=1", "a=1;b"):
        with pytest.raises(ValueError):
            parse_env(bad)


@pytest.mark.parametrize("env", ["novalue", "=x", "a=1;2b=3", "a=\0"])
def test_validate_refuses_malformed_env(action, env):
    with pytest.raises(ForsunPlanError) as refused:
        action.validate({"cmd": "true", "env": env})
    assert refused.value.code == ErrorCode.STORE_FAILED
    assert "params.env" in refused.value.message


def test_validate_requires_cmd(action):
    for params in ({}, {"cmd": ""}, {"cwd": "/tmp"}):
        with pytest.raises(ForsunPlanError) as refused:
            action.validate(params)
        assert refused.value.code == ErrorCode.MISSING_ARGUMENT
        assert "params.cmd" in refused.value.message


async def test_cwd_default_relative_and_absolute(action, tmp_path, make_firing):
    (tmp_path / "sub").mkdir()
    other = tmp_path / "other"
    other.mkdir()
    out = tmp_path / "out"
    for cwd in ("", "sub", str(other)):
        await action.execute(make_firing({"cmd": f"pwd >> {out}", "cwd": cwd}))
    assert out.read_text().split() == [str(tmp_path), str(tmp_path / "sub"), str(other)]


async def test_missing_cwd_fails_without_retry(action, tmp_path, make_firing):
    with pytest.raises(ActionError) as failure:
        await action.execute(make_firing({"cmd": "true", "cwd": "does-not-exist"}))
    assert not failure.value.retry
    assert str(tmp_path / "does-not-exist") in str(failure.value)


async def test_nonzero_exit_fails_without_retry_by_default(action, make_firing, caplog):
    with pytest.raises(ActionError) as failure:
        await action.execute(make_firing({"cmd": "echo broken >&2; exit 3"}, key="k3"))
    assert not failure.value.retry
    assert "'echo broken >&2; exit 3'" in str(failure.value)
    assert "exited with code 3" in str(failure.value)
    [record] = [r for r in caplog.records if r.name.startswith("forsun_action_shell")]
    assert record.levelno == logging.WARNING
    assert "broken" in record.getMessage() and "k3" in record.getMessage()


async def test_nonzero_exit_retried_with_option(tmp_path, make_firing):
    action = ShellAction(make_options(action_shell_cwd=str(tmp_path), action_shell_wait=True,
                                      action_shell_retry_nonzero=True))
    with pytest.raises(ActionError) as failure:
        await action.execute(make_firing({"cmd": "exit 75"}))
    assert failure.value.retry
    assert "code 75" in str(failure.value)


async def test_killed_by_signal_is_named(action, make_firing):
    with pytest.raises(ActionError, match="was killed by SIGKILL"):
        await action.execute(make_firing({"cmd": "kill -9 $$"}))


async def test_success_output_is_logged(action, make_firing, caplog):
    caplog.set_level(logging.INFO)
    await action.execute(make_firing({"cmd": "echo to-stdout; echo to-stderr >&2"}))
    [record] = [r for r in caplog.records if r.name.startswith("forsun_action_shell")]
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert "to-stdout" in message and "to-stderr" in message


async def test_silent_success_logs_nothing_at_info(action, make_firing, caplog):
    caplog.set_level(logging.INFO)
    await action.execute(make_firing({"cmd": "true"}))
    assert not [r for r in caplog.records if r.name.startswith("forsun_action_shell")]


async def test_output_capture_is_bounded_to_the_tail(action, make_firing, caplog):
    cmd = "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; echo LAST; exit 1"
    with pytest.raises(ActionError):
        await action.execute(make_firing({"cmd": cmd}))
    [record] = [r for r in caplog.records if r.name.startswith("forsun_action_shell")]
    output = record.getMessage().split("; output: ", 1)[1]
    assert output.endswith("LAST")
    assert "line-2999" in output and "line-0\n" not in output
    cut, kept = output.split("] ", 1)
    assert cut.startswith("[") and cut.endswith("bytes cut")
    assert len(kept.encode()) <= OUTPUT_LIMIT


async def test_cancellation_kills_the_process_group(action, tmp_path, make_firing, read_pid,
                                                    wait_dead):
    cmd = (f"sleep 60 & echo $! > {tmp_path / 'child.pid'}; echo $$ > {tmp_path / 'sh.pid'};"
           " sleep 60")
    task = asyncio.create_task(action.execute(make_firing({"cmd": cmd})))
    child = await read_pid(tmp_path / "child.pid")
    shell = await read_pid(tmp_path / "sh.pid")
    assert not wait_dead(child, 0.2)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await task
    assert time.monotonic() - started < 5
    assert wait_dead(shell), "the shell survived cancellation"
    assert wait_dead(child), "the command the shell started survived cancellation"


async def test_background_process_holding_output_does_not_block(action, tmp_path,
                                                                make_firing, read_pid):
    pid_file = tmp_path / "bg.pid"
    started = time.monotonic()
    await action.execute(make_firing({"cmd": f"sleep 30 & echo $! > {pid_file}; echo done"}))
    elapsed = time.monotonic() - started
    pid = await read_pid(pid_file)
    os.kill(pid, signal.SIGKILL)
    assert elapsed < 5


async def test_disabled_refuses_plans_and_firings(tmp_path, make_firing):
    action = ShellAction(make_options(action_shell_enabled=False, action_shell_wait=True))
    with pytest.raises(ForsunPlanError) as refused:
        action.validate({"cmd": "true"})
    assert refused.value.code == ErrorCode.UNKNOWN_ACTION
    assert "disabled" in refused.value.message
    out = tmp_path / "out"
    with pytest.raises(ActionError) as failure:
        await action.execute(make_firing({"cmd": f"touch {out}"}))
    assert not failure.value.retry and "disabled" in str(failure.value)
    assert not out.exists()


@pytest.fixture
def restricted(tmp_path):
    return ShellAction(make_options(action_shell_cwd=str(tmp_path), action_shell_wait=True,
                                    action_shell_allow=["/bin/echo", "printf %s"],
                                    action_shell_env_allow=["GREETING"]))


@pytest.mark.parametrize("cmd", ["/bin/echo", "/bin/echo hello $FORSUN_KEY",
                                 "  /bin/echo padded", "printf %s x"])
def test_allow_list_admits(restricted, cmd):
    restricted.validate({"cmd": cmd, "env": "GREETING=hi"})


@pytest.mark.parametrize("cmd", ["/bin/echoes", "echo hi", "/bin/sh -c x", "printf x",
                                 "/bin/echo a; rm -rf /", "/bin/echo a && id", "/bin/echo a | sh",
                                 "/bin/echo `id`", "/bin/echo $(id)", "/bin/echo a > /etc/x",
                                 "/bin/echo a\nid", "/bin/echo a & id", "/bin/echo a\n"])
def test_allow_list_refuses(restricted, cmd):
    with pytest.raises(ForsunPlanError) as refused:
        restricted.validate({"cmd": cmd})
    assert refused.value.code == ErrorCode.STORE_FAILED
    assert "params.cmd" in refused.value.message


@pytest.mark.parametrize("env", ["PATH=/tmp", "LD_PRELOAD=/tmp/x.so", "IFS=x", "BASH_ENV=/x",
                                 "FORSUN_KEY=x", "PERL5OPT=-Mx", "PERL5DB=x", "PYTHONPATH=/x",
                                 "PYTHONSTARTUP=/x", "PYTHONWARNINGS=x", "BROWSER=x",
                                 "NODE_OPTIONS=x", "ENV=/x", "greeting=lower-case",
                                 "GREETING=hi;OTHER=1"])
def test_allow_list_refuses_env_names_not_listed(restricted, env):
    with pytest.raises(ForsunPlanError) as refused:
        restricted.validate({"cmd": "/bin/echo", "env": env})
    assert refused.value.code == ErrorCode.STORE_FAILED
    assert "params.env" in refused.value.message
    assert env.split(";")[-1].split("=")[0] in refused.value.message
    assert "--action-shell-env-allow" in refused.value.message


def test_allow_list_without_env_allow_refuses_every_env(tmp_path):
    action = ShellAction(make_options(action_shell_cwd=str(tmp_path), action_shell_wait=True,
                                      action_shell_allow=["/bin/echo"]))
    action.validate({"cmd": "/bin/echo", "env": " ; "})  # sets nothing
    with pytest.raises(ForsunPlanError, match=r"params\.env: GREETING may not be set"):
        action.validate({"cmd": "/bin/echo", "env": "GREETING=hi"})


async def test_allow_list_checked_when_firing(restricted, tmp_path, make_firing):
    out = tmp_path / "out"
    with pytest.raises(ActionError) as failure:
        await restricted.execute(make_firing({"cmd": f"touch {out}"}))
    assert not failure.value.retry
    assert "--action-shell-allow" in str(failure.value)
    assert not out.exists()
    await restricted.execute(make_firing({"cmd": "/bin/echo allowed"}))


def test_without_allow_list_any_command_is_valid(action):
    action.validate({"cmd": "echo a; echo b | cat > /dev/null", "env": "PATH=/usr/bin"})


def test_plugin_registers_action_and_options():
    pm = get_plugin_manager(only=["forsun_action_shell"])
    assert isinstance(collect_actions(pm)["shell"].factory(make_options()), ShellAction)
    options = {opt.name: opt for opts in collect_options(pm).values() for opt in opts}
    assert {name: (opt.default, opt.section, opt.ini_key) for name, opt in options.items()} == {
        "action-shell-enabled": (True, "action", "shell_enabled"),
        "action-shell-allow": ([], "action", "shell_allow"),
        "action-shell-env-allow": ([], "action", "shell_env_allow"),
        "action-shell-cwd-allow": ([], "action", "shell_cwd_allow"),
        "action-shell-cwd": ("/tmp", "action", "shell_cwd"),
        "action-shell-wait": (False, "action", "shell_wait"),
        "action-shell-retry-nonzero": (False, "action", "shell_retry_nonzero"),
    }
