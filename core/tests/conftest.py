"""Fixtures shared by the core's tests."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator

import pytest

from forsun.testing.fixtures import make_plan, pytest_configure  # noqa: F401 - pytest hooks
from forsun.testing.process import ForsundProcess, start_forsund


def harmless_args() -> list[str]:
    """forsund flags that leave only ``shell`` (allowed: ``true``) as an action."""
    blocked = sorted({ep.name for ep in importlib.metadata.entry_points(group="forsun")
                      if ep.name.startswith("action_") and ep.name != "action_shell"})
    return ["--driver-mem-store-file", "", "--action-shell-allow", "true",
            *(arg for name in blocked for arg in ("--block-plugin", name))]


@pytest.fixture(scope="module")
def harmless_forsund(tmp_path_factory) -> Iterator[ForsundProcess]:
    """A real forsund per test module whose only action is a shell allowed to run ``true``
    (for fuzzing: nothing a random plan does can touch the machine)."""
    daemon = start_forsund(harmless_args(), workdir=tmp_path_factory.mktemp("harmless"))
    yield daemon
    daemon.stop()
