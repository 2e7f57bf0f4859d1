"""Item 3: the ``forsun`` command line. Every command of the original, run by the original's
client against the original forsund and by ours against ours, one-shot, with ``--exe`` and
piped into the prompt, prints the same (after :mod:`differences` normalised what must
differ) and exits with the same status.

Both servers get the same commands in the same order, so they hold the same keys.
"""

from __future__ import annotations

import datetime
import time

import pytest
from differences import cli_text, exit_status, info_text, kept, sorted_lines

#: ``(command line, kind of failure or "")``, in the order they run.
LINES = [
    ("set cli:fixed 0 30 10 * * * shell 'cmd=ls'", ""),
    ("set cli:delay */3600 * * * * * sh 'echo hi'", ""),
    ("set cli:count */5 */20/3 * * * * http http://127.0.0.1:9/x", ""),
    ("set cli:bare */3600 * * * * * bash 'echo a;b'", ""),
    ("set cli:week 5 4 3 2 * * shell 'cmd=true;cwd=/tmp'", ""),
    ("get cli:delay", ""),
    ("get cli:fixed", ""),
    ("current", ""),
    ("time", ""),
    ("rm cli:count", ""),
    ("rm cli:count", "refused"),
    ("get cli:none", "refused"),
    ("set cli:action */5 * * * * * nosuch 'a=b'", "refused"),
    ("version", ""),
    ("help", ""),
    ("exit", ""),
    ("frobnicate", "usage"),
    ("get", "usage"),
    ("set cli:semi */3600 * * * * * sh true; get cli:semi", ""),
    ("get cli:none; version", "refused"),
]


def next_half_past_ten() -> int:
    """When ``cli:fixed`` (0 30 10 * * *) is next due, in UTC."""
    now = datetime.datetime.now(datetime.UTC)
    due = now.replace(hour=10, minute=30, second=0, microsecond=0)
    if due <= now:
        due += datetime.timedelta(days=1)
    return int(due.timestamp())


def compare(original, ours, kind: str) -> None:
    assert cli_text(ours.stdout) == cli_text(original.stdout)
    assert ours.returncode == exit_status(original.returncode, kind), (original, ours)
    assert ours.stderr == "", ours.stderr


@pytest.mark.parametrize(("line", "kind"), LINES, ids=[line for line, _ in LINES])
def test_one_shot(pair, original_cli, our_cli, line, kind):
    original, ours = pair
    compare(original_cli(original, line), our_cli(ours, line), kind)


EXE_LINES = [(line, kind) for line, kind in LINES if not line.startswith(("set ", "rm "))]


@pytest.mark.parametrize(("line", "kind"), EXE_LINES, ids=[line for line, _ in EXE_LINES])
def test_exe(pair, original_cli, our_cli, line, kind):
    original, ours = pair
    compare(original_cli(original, "--exe", line), our_cli(ours, "--exe", line), kind)


@pytest.mark.parametrize("args", [["ls cli:"], ["--exe", "ls cli:"], ["ls *"]])
def test_ls(pair, original_cli, our_cli, args):
    original, ours = pair
    shown = [original_cli(original, *args), our_cli(ours, *args)]
    assert sorted_lines(cli_text(shown[1].stdout)) == sorted_lines(cli_text(shown[0].stdout))
    assert " cli:delay " in shown[1].stdout and shown[1].returncode == 0


def test_a_fully_fixed_date_that_passed_is_refused(pair, original_cli, our_cli):
    original, ours = pair
    yesterday = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    if yesterday.month == 12 and yesterday.day == 31:
        pytest.skip("on 1 January yesterday's date is later this year, for the original")
    line = f"set cli:once 5 4 3 {yesterday.day} {yesterday.month} * shell 'cmd=true'"
    compare(original_cli(original, line), our_cli(ours, line), "refused")


def test_a_fully_fixed_date_fires_once(pair, original_cli, our_cli, tmp_path):
    """Second to month set: due at that date of this year, then gone (not due next year)."""
    original, ours = pair
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=3)
    if soon.year != (soon - datetime.timedelta(seconds=6)).year:
        pytest.skip("too close to a new year")
    fields = f"{soon.second} {soon.minute} {soon.hour} {soon.day} {soon.month} *"
    fired = tmp_path / "fired"
    fired.mkdir()
    for server, cli in ((original, original_cli), (ours, our_cli)):
        script = tmp_path / f"{server.name}.sh"  # the original's set splits cmd at blanks
        script.write_text(f"#!/bin/sh\n/bin/touch {fired / server.name}\n")
        script.chmod(0o755)
        line = f"set cli:soon {fields} shell 'cmd={script}'"
        assert cli(server, line).returncode == 0, server.name
    time.sleep(5)
    assert sorted(path.name for path in fired.iterdir()) == ["original", "ours"]
    compare(original_cli(original, "get cli:soon"), our_cli(ours, "get cli:soon"), "refused")


def test_time_of_a_date_and_of_a_timestamp(pair, original_cli, our_cli):
    original, ours = pair
    due = next_half_past_ten()
    date = datetime.datetime.fromtimestamp(due, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    for line in (f"time {due}", f"time '{date}'"):
        shown = [original_cli(original, line), our_cli(ours, line)]
        compare(*shown, "")
        assert " cli:fixed 0 30 10 * * * shell " in shown[1].stdout


def test_info_layout(pair, original_cli, our_cli):
    original, ours = pair
    shown = [original_cli(original, "info"), our_cli(ours, "info")]
    assert info_text(shown[1].stdout) == info_text(shown[0].stdout)
    assert shown[1].returncode == shown[0].returncode == 0


def test_piped_into_the_prompt(pair, original_cli, our_cli):
    """Every line at once through the prompt: the banner, a prompt before each line, a
    blank line after each command that succeeded. The original crashed at the end of input
    (``end-of-input``): its stderr and exit status are not compared."""
    kept("end-of-input")
    original, ours = pair
    lines = "\n".join(line for line, _ in LINES if line != "exit"
                      and not line.startswith("set ")) + "\n"
    shown = [original_cli(original, stdin=lines), our_cli(ours, stdin=lines)]
    assert cli_text(shown[1].stdout) == cli_text(shown[0].stdout)
    assert "EOFError" in shown[0].stderr and shown[1].stderr == ""
    assert shown[1].returncode == 1  # the status of its last failure: get cli:none


def test_an_unreachable_server(pair, original_cli, our_cli, tmp_path):
    from original import Server

    from forsun.testing.services import free_port

    nowhere = Server("nowhere", None, free_port(), 0, tmp_path)  # type: ignore[arg-type]
    shown = [original_cli(nowhere, "ls"), our_cli(nowhere, "ls")]
    assert [result.stdout.split(":")[0] for result in shown] == ["connect forsun server fail"] * 2
    assert shown[1].returncode == exit_status(shown[0].returncode, "unreachable")
