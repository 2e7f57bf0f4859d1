"""A forsund that cannot start says why in one line on stderr and exits with status 1,
never with a traceback (issue 25 item 7); ``--help`` shows ``--version`` and the
subcommands."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from forsun.commands.forsund import SUBCOMMANDS
from forsun.testing.services import free_port


def forsund(*args: str, cwd: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "forsun.commands.forsund", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=60,
                          env={**os.environ, **(env or {})})


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused start wrote on stderr, after checking the exit status."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("forsund: error: "), result.stderr
    return lines[0]


def served_args(tmp_path: Path, *, port: int | None = None) -> list[str]:
    """Arguments of a forsund that gets as far as listening, logging to a file (so
    stderr holds only what a failure says there)."""
    return ["--port", str(port or free_port()), "--log", str(tmp_path / "forsund.log"),
            "--driver-mem-store-file", str(tmp_path / "forsun.db")]


def last_logged(tmp_path: Path) -> str:
    logged = (tmp_path / "forsund.log").read_text()
    assert "Traceback" not in logged, logged
    return logged.splitlines()[-1]


@pytest.fixture
def taken_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_thrift_port_in_use_names_the_port_and_the_flag(tmp_path, taken_port):
    line = refused(forsund(*served_args(tmp_path, port=taken_port), cwd=tmp_path))
    assert line == (f"forsund: error: --bind 127.0.0.1 --port {taken_port}: "
                    f"Address already in use")
    assert last_logged(tmp_path).endswith(f"CRITICAL forsun forsund failed: {line[16:]}")


def test_an_http_port_in_use_names_the_port_and_the_flag(tmp_path, taken_port):
    result = forsund(*served_args(tmp_path), "--http", f"127.0.0.1:{taken_port}", cwd=tmp_path)
    assert refused(result) == (f"forsund: error: --http 127.0.0.1:{taken_port}: "
                               f"Address already in use")


def test_a_port_in_use_is_one_line_when_logging_to_stderr(tmp_path, taken_port):
    result = forsund("--port", str(taken_port), "--driver-mem-store-file",
                     str(tmp_path / "forsun.db"), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1].endswith(
        f"CRITICAL forsun forsund failed: --bind 127.0.0.1 --port {taken_port}: "
        f"Address already in use")


def test_data_files_locked_by_another_forsund_name_its_pid(tmp_path, forsunds):
    first = forsunds.start("--driver-mem-store-file", str(tmp_path / "forsun.db"))
    (tmp_path / "second").mkdir()
    line = refused(forsund(*served_args(tmp_path / "second"), "--driver-mem-store-file",
                           str(tmp_path / "forsun.db"), cwd=tmp_path / "second"))
    assert line.startswith(f"forsund: error: {tmp_path / 'forsun.db'} is in use by another "
                           f"forsund (pid {first.proc.pid}; lock "), line
    assert first.api("GET", "/v1/ping") is not None  # the first one is undisturbed


@pytest.mark.parametrize(("conf", "message"), [
    ("directory", "Is a directory"),
    ("absent.conf", "No such file or directory"),
    ("twice.conf", "line 2: port is set twice in the top level"),
    ("sections.conf", "line 3: section [store] appears twice"),
    ("no-key.conf", "line 2 cannot be read: '= 7001'"),
    ("indented.conf", "an indented line follows a key without a value"),
])
def test_an_unreadable_conf_file(tmp_path, conf, message):
    (tmp_path / "directory").mkdir()
    (tmp_path / "twice.conf").write_text("port = 7000\nport = 7001\n")
    (tmp_path / "sections.conf").write_text("[store]\n[action]\n[store]\n")
    (tmp_path / "no-key.conf").write_text("port = 7000\n= 7001\nbind_address = ::1\n")
    (tmp_path / "indented.conf").write_text("[store\n  driver = mem\n")
    line = refused(forsund("--conf", str(tmp_path / conf), cwd=tmp_path))
    assert line.startswith(f"forsund: error: --conf {tmp_path / conf}: ") and message in line


@pytest.mark.parametrize(("where", "log_format", "message"), [
    ("flag", "%(nosuch)s", "Formatting field not found in record: 'nosuch'"),
    ("flag", "no field at all", "Invalid format 'no field at all'"),
    ("conf", "%(message)s 100%", "--log-format '%(message)s 100%'"),
])
def test_a_bad_log_format(tmp_path, where, log_format, message):
    args = ["--log-format", log_format]
    if where == "conf":
        (tmp_path / "forsund.conf").write_text(f"log_format = {log_format}\n")
        args = ["--conf", str(tmp_path / "forsund.conf")]
    line = refused(forsund(*args, cwd=tmp_path))
    assert line.startswith(f"forsund: error: --log-format {log_format!r}: ") and message in line


@pytest.fixture
def broken_plugin(tmp_path) -> dict[str, str]:
    """The environment of a forsund that finds an installed plugin whose dependency is
    missing: its entry point's import fails with ImportError."""
    site = tmp_path / "site"
    info = site / "forsun_broken_dep-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: forsun-broken-dep\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text("[forsun]\nbroken_dep = forsun_broken_dep\n")
    (site / "forsun_broken_dep.py").write_text("import nosuch_dependency_of_forsun_tests\n")
    return {"PYTHONPATH": str(site)}


@pytest.mark.parametrize("command", [[], ["plugins"], ["sample-conf"]])
def test_a_plugin_whose_dependency_is_missing(tmp_path, broken_plugin, command):
    line = refused(forsund(*command, cwd=tmp_path, env=broken_plugin))
    assert line == ("forsund: error: plugin broken_dep (forsun-broken-dep 0.1) cannot be "
                    "imported: No module named 'nosuch_dependency_of_forsun_tests'; install "
                    "what it needs, or start forsund with --block-plugin broken_dep")


def test_blocking_the_plugin_whose_dependency_is_missing_lets_forsund_start(
        tmp_path, broken_plugin):
    listed = forsund("plugins", "--block-plugin", "broken_dep", cwd=tmp_path, env=broken_plugin)
    assert listed.returncode == 0 and "core_options" in listed.stdout, listed.stderr
    assert "broken_dep" not in listed.stdout


@pytest.mark.parametrize(("flag", "hint"), [
    ("--demn", "did you mean --demon?"),
    ("--prot=7000", "did you mean --port?"),
    ("--log-levle", "did you mean --log-level?"),
    ("--driver-nosuch-host", "no installed plugin declares it; install the distribution "
                             "forsun-store-nosuch that declares it"),
])
def test_an_unknown_flag_names_the_close_one_else_the_plugin_to_install(tmp_path, flag, hint):
    line = refused(forsund(flag, cwd=tmp_path))
    assert line == f"forsund: error: unknown option {flag.split('=')[0]}: {hint}"


def test_a_flag_without_its_value_is_one_line(tmp_path):
    assert refused(forsund("--port", cwd=tmp_path)) == \
        "forsund: error: argument --port: expected one argument"


def test_help_shows_the_version_flag_and_every_subcommand(tmp_path):
    result = forsund("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--version" in result.stdout
    listed = result.stdout.split("\nsubcommands:\n", 1)[1].splitlines()
    assert [line.split()[1] for line in listed] == list(SUBCOMMANDS)
    assert {"plugins", "sample-conf"} <= set(SUBCOMMANDS)


@pytest.mark.parametrize(("args", "message"), [
    (["--http", "nonsense"], "--http 'nonsense': expected HOST:PORT or :PORT"),
    (["--timezone", "Nowhere/X"], "unknown time zone 'Nowhere/X'"),
])
def test_a_setting_refused_while_starting(tmp_path, args, message):
    line = refused(forsund(*served_args(tmp_path), *args, cwd=tmp_path))
    assert line == f"forsund: error: {message}"
    assert last_logged(tmp_path).endswith(f"CRITICAL forsun forsund failed: {message}")
