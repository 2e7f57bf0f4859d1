"""Helpers for the shell action's tests: process inspection and the conformance suite's
target (commands appending "$FORSUN_KEY $FORSUN_TIMESTAMP" to a file)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from forsun.testing import ActionTarget

pytest_plugins = ["forsun.testing.fixtures"]


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped yet, counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def wait_dead():
    """``wait_dead(pid, seconds)``: True once ``pid`` is dead, False if it still runs."""

    def wait(pid: int, seconds: float = 5.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not process_alive(pid):
                return True
            time.sleep(0.02)
        return False

    return wait


@pytest.fixture
def read_pid():
    """``await read_pid(path)``: the pid a command wrote to ``path`` (waits up to 5 s)."""

    async def read(path: Path) -> int:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            text = path.read_text().strip() if path.exists() else ""
            if text:
                return int(text)
            await asyncio.sleep(0.02)
        raise AssertionError(f"no pid written to {path}")

    return read


class ShellTarget(ActionTarget):
    """Commands that append ``$FORSUN_KEY $FORSUN_TIMESTAMP`` to ``log``.

    ``waiting``: the action is built with ``action_shell_wait``, so ``exit CODE`` fails;
    otherwise (the default) a firing is done once its command started, and only a command
    that cannot start fails (nothing asks for a retry, nothing is slow). ``retrying`` (with
    ``waiting``): also ``action_shell_retry_nonzero``, so a non-zero exit asks for a retry
    and only a command that cannot start fails for good."""

    def __init__(self, log: Path, *, waiting: bool = True, retrying: bool = False) -> None:
        self.log = log
        self.waiting = waiting
        self.retrying = retrying

    def ok_params(self) -> dict[str, str]:
        return {"cmd": f'echo "$FORSUN_KEY $FORSUN_TIMESTAMP" >> {self.log}'}

    def failing_params(self) -> dict[str, str] | None:
        if self.retrying or not self.waiting:
            return {"cmd": "true", "cwd": str(self.log.parent / "no-such-dir")}
        return {"cmd": "exit 3"}

    def retry_params(self) -> dict[str, str] | None:
        return {"cmd": "exit 75"} if self.retrying else None

    def slow_params(self, seconds: float) -> dict[str, str] | None:
        return {"cmd": f"sleep {seconds:g}"} if self.waiting else None

    def missing_params(self) -> dict[str, str] | None:
        return {"env": "A=1"}

    async def deliveries(self) -> list[tuple[str, int | None]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [(key, int(ts)) for key, ts in (line.rsplit(" ", 1) for line in lines)]


@pytest.fixture
def shell_target(tmp_path) -> ShellTarget:
    return ShellTarget(tmp_path / "deliveries")


@pytest.fixture
def retrying_shell_target(tmp_path) -> ShellTarget:
    return ShellTarget(tmp_path / "deliveries", retrying=True)


@pytest.fixture
def starting_shell_target(tmp_path) -> ShellTarget:
    return ShellTarget(tmp_path / "deliveries", waiting=False)
