"""Under ``--action-shell-allow`` a plan cannot make an allowed command run code it was not
meant to run, through ``env`` or ``cwd``; and forsund says at start-up who can run
commands. Each way in is first shown to work on an unrestricted action (so the test
proves something), then shown to be refused under an allow-list."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from forsun.action import ActionError
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.testing.options import make_options
from forsun_action_shell.action import ShellAction
from forsun_action_shell.exposure import startup_warnings


@attrs.frozen
class Attack:
    """``cmd`` (starting with the allowed ``prefix``) run with ``env`` creates ``marker``."""

    prefix: str
    cmd: str
    env: str
    marker: Path


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def perl5opt(tmp: Path, marker: Path) -> Attack:
    job = _script(tmp / "job.pl", 'print "job\\n";\n')
    (tmp / "Evil.pm").write_text(f"package Evil; open(my $f, '>', '{marker}'); 1;\n")
    return Attack(f"/usr/bin/perl {job}", f"/usr/bin/perl {job}",
                  f"PERL5OPT=-I{tmp} -MEvil", marker)


def perl5db(tmp: Path, marker: Path) -> Attack:
    job = _script(tmp / "job.pl", 'print "job\\n";\n')
    return Attack(f"/usr/bin/perl {job}", f"/usr/bin/perl {job}",
                  f"PERL5OPT=-d;PERL5DB=BEGIN {{ open(my $f, '>', '{marker}') }} sub DB::DB {{}}",
                  marker)


def pythonpath(tmp: Path, marker: Path) -> Attack:
    job = _script(tmp / "job.py", "print('job')\n")
    (tmp / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    return Attack(f"{sys.executable} {job}", f"{sys.executable} {job}", f"PYTHONPATH={tmp}",
                  marker)


def pythonwarnings_browser(tmp: Path, marker: Path) -> Attack:
    """PYTHONWARNINGS makes Python import ``antigravity``, which opens $BROWSER."""
    job = _script(tmp / "job.py", "print('job')\n")
    browser = _script(tmp / "browser", f"#!/bin/sh\ntouch {marker}\n")
    return Attack(f"{sys.executable} {job}", f"{sys.executable} {job}",
                  f"PYTHONWARNINGS=all:0:antigravity.x:0:0;BROWSER={browser}", marker)


def bash_env(tmp: Path, marker: Path) -> Attack:
    job = _script(tmp / "job.sh", "echo job\n")
    payload = _script(tmp / "payload.sh", f"touch {marker}\n")
    return Attack(f"/bin/bash {job}", f"/bin/bash {job}", f"BASH_ENV={payload}", marker)


def ld_preload(tmp: Path, marker: Path) -> Attack:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: cannot build the LD_PRELOAD library")
    source = tmp / "evil.c"
    source.write_text('#include <stdio.h>\n__attribute__((constructor)) static void evil(void)'
                      f' {{ FILE *f = fopen("{marker}", "w"); if (f) fclose(f); }}\n')
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp / "evil.so"), str(source)],
                   check=True)
    return Attack("/bin/echo", "/bin/echo job", f"LD_PRELOAD={tmp / 'evil.so'}", marker)


def node_options(tmp: Path, marker: Path) -> Attack:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    job = _script(tmp / "job.js", "console.log('job')\n")
    evil = tmp / "evil.js"
    evil.write_text(f"require('fs').writeFileSync({str(marker)!r}, '')\n")
    return Attack(f"{node} {job}", f"{node} {job}", f"NODE_OPTIONS=--require {evil}", marker)


ATTACKS: dict[str, Callable[[Path, Path], Attack]] = {
    "PERL5OPT": perl5opt, "PERL5DB": perl5db, "PYTHONPATH": pythonpath,
    "PYTHONWARNINGS+BROWSER": pythonwarnings_browser, "BASH_ENV": bash_env,
    "LD_PRELOAD": ld_preload, "NODE_OPTIONS": node_options,
}


@pytest.fixture(params=ATTACKS)
def attack(request, tmp_path) -> Attack:
    files = tmp_path / "files"
    files.mkdir()
    return ATTACKS[request.param](files, tmp_path / "pwned")


async def test_env_runs_code_without_an_allow_list(attack, tmp_path, make_firing):
    """The way in is real: with no allow-list the env param runs the payload."""
    action = ShellAction(make_options(action_shell_cwd=str(tmp_path), action_shell_wait=True))
    await action.execute(make_firing({"cmd": attack.cmd, "env": attack.env}))
    assert attack.marker.exists()


async def test_an_allow_list_refuses_env_that_runs_code(attack, tmp_path, make_firing):
    action = ShellAction(make_options(action_shell_cwd=str(tmp_path), action_shell_wait=True,
                                      action_shell_allow=[attack.prefix]))
    params = {"cmd": attack.cmd, "env": attack.env}
    with pytest.raises(ForsunPlanError) as refused:
        action.validate(params)
    assert refused.value.code == ErrorCode.STORE_FAILED
    assert "params.env" in refused.value.message
    assert "--action-shell-env-allow" in refused.value.message
    with pytest.raises(ActionError) as failure:  # a plan stored before the allow-list
        await action.execute(make_firing(params))
    assert not failure.value.retry
    await action.execute(make_firing({"cmd": attack.cmd}))  # the command itself still runs
    assert not attack.marker.exists()


async def test_listed_env_names_reach_the_command(tmp_path, make_firing, caplog):
    caplog.set_level(logging.INFO)
    action = ShellAction(make_options(action_shell_cwd=str(tmp_path), action_shell_wait=True,
                                      action_shell_allow=["/usr/bin/printenv"],
                                      action_shell_env_allow=["SHOP_ENV", "REGION"]))
    await action.execute(make_firing({"cmd": "/usr/bin/printenv SHOP_ENV REGION",
                                      "env": "SHOP_ENV=prod;REGION=eu"}))
    [record] = [r for r in caplog.records if r.name.startswith("forsun_action_shell")]
    assert record.getMessage().endswith("output: prod\neu")
    with pytest.raises(ForsunPlanError, match="PERL5OPT may not be set"):
        action.validate({"cmd": "/usr/bin/printenv", "env": "SHOP_ENV=prod;PERL5OPT=-d"})


# -- cwd ---------------------------------------------------------------------------------------


@pytest.fixture
def dirs(tmp_path) -> dict[str, Path]:
    """``home`` (--action-shell-cwd), ``reports`` (allow-listed) and ``attacker``, which
    holds a ``job.py`` that ``python -m job`` would import from its working directory."""
    found = {name: tmp_path / name for name in ("home", "reports", "attacker")}
    for path in found.values():
        path.mkdir()
    (found["attacker"] / "job.py").write_text(
        f"open({str(tmp_path / 'pwned')!r}, 'w').close()\n")
    for name in ("home", "reports"):
        (found[name] / "job.py").write_text("import os; print(os.getcwd())\n")
    return found


def cwd_action(dirs: dict[str, Path], *, allow: bool) -> ShellAction:
    return ShellAction(make_options(
        action_shell_cwd=str(dirs["home"]), action_shell_wait=True,
        action_shell_cwd_allow=[str(dirs["reports"])],
        action_shell_allow=[f"{sys.executable} -m job"] if allow else []))


async def test_cwd_runs_code_without_an_allow_list(dirs, tmp_path, make_firing):
    action = cwd_action(dirs, allow=False)
    await action.execute(make_firing({"cmd": f"{sys.executable} -m job",
                                      "cwd": str(dirs["attacker"])}))
    assert (tmp_path / "pwned").exists()


@pytest.mark.parametrize("cwd", ["{attacker}", "../attacker", "{reports}/../attacker", "/",
                                 "{reports}/sub", "{home}/sub"])
async def test_an_allow_list_refuses_a_cwd_not_listed(dirs, tmp_path, make_firing, cwd):
    action = cwd_action(dirs, allow=True)
    params = {"cmd": f"{sys.executable} -m job",
              "cwd": cwd.format(**{name: str(path) for name, path in dirs.items()})}
    with pytest.raises(ForsunPlanError) as refused:
        action.validate(params)
    assert refused.value.code == ErrorCode.STORE_FAILED
    assert "params.cwd" in refused.value.message
    assert "--action-shell-cwd-allow" in refused.value.message
    with pytest.raises(ActionError) as failure:
        await action.execute(make_firing(params))
    assert not failure.value.retry
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(("cwd", "runs_in"), [
    ("", "home"), ("{home}", "home"), (".", "home"), ("../home", "home"),
    ("{reports}", "reports"), ("../reports", "reports"), ("{attacker}/../reports/", "reports"),
])
async def test_an_allow_list_admits_the_default_and_listed_cwds(dirs, make_firing, caplog,
                                                                cwd, runs_in):
    caplog.set_level(logging.INFO)
    action = cwd_action(dirs, allow=True)
    await action.execute(make_firing({
        "cmd": f"{sys.executable} -m job",
        "cwd": cwd.format(**{name: str(path) for name, path in dirs.items()})}))
    [record] = [r for r in caplog.records if r.name.startswith("forsun_action_shell")]
    assert record.getMessage().endswith(f"output: {dirs[runs_in]}")


# -- start-up warnings -------------------------------------------------------------------------


def test_no_token_warns_naming_the_flags():
    [(level, message)] = startup_warnings(make_options(), euid=1000)
    assert level == logging.WARNING
    assert message.startswith("the shell action is enabled and no --token is set: any local "
                              "user, and anyone who can reach the Thrift or HTTP port, can "
                              "run any command as ")
    assert message.endswith("by creating a shell plan; lock it down: start forsund with "
                            "--token TOKEN and --action-shell-allow /path/to/command (or "
                            "--no-action-shell-enabled) (docs/operations.md, section "
                            "Hardening)")
    assert "uid 1000" in message


def test_no_token_as_root_is_an_error():
    [(level, message)] = startup_warnings(make_options(), euid=0)
    assert level == logging.ERROR
    assert message.startswith("forsund runs as root, the shell action is enabled and no "
                              "--token is set")
    assert "can run any command as user 'root' (uid 0)" in message
    assert "lock it down: run forsund as an unprivileged user, with --token TOKEN" in message


def test_an_allow_list_without_token_still_warns():
    [(level, message)] = startup_warnings(make_options(action_shell_allow=["/bin/x"]),
                                          euid=1000)
    assert level == logging.WARNING
    assert "can run the commands --action-shell-allow admits as" in message
    assert message.endswith("lock it down: start forsund with --token TOKEN "
                            "(docs/operations.md, section Hardening)")


def test_the_operations_guide_quotes_the_root_message():
    guide = Path(__file__).resolve().parents[3] / "docs" / "operations.md"
    if not guide.exists():
        pytest.skip("docs/operations.md is not here: the plugin is installed alone")
    [(_, message)] = startup_warnings(make_options(), euid=0)
    assert f"\n{message}\n" in guide.read_text()


@pytest.mark.parametrize("options", [{"token": "secret"}, {"action_shell_enabled": False}])
def test_a_token_or_a_disabled_action_is_quiet(options):
    assert startup_warnings(make_options(**options), euid=0) == []


def test_env_and_cwd_allow_lists_without_an_allow_list_warn():
    options = make_options(token="t", action_shell_env_allow=["A"],
                           action_shell_cwd_allow=["/srv"])
    assert startup_warnings(options, euid=1000) == [(
        logging.WARNING, "--action-shell-env-allow and --action-shell-cwd-allow apply only "
                         "with --action-shell-allow: without it every command, env and cwd "
                         "is accepted")]
