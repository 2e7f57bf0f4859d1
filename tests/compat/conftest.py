"""Fixtures of the differential suite: the original forsun 0.1.4 (a cached virtual
environment, see :mod:`original`) and ours, run side by side.

The scenario modules are named ``compat_*.py`` so that a ``pytest tests`` run of the
workspace never collects them: ``nox -s compat`` runs them (``-o python_files=compat_*.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
# The suite's helper modules sit beside this file (--import-mode=importlib adds no path).
sys.path.insert(0, str(HERE))

from original import ENV, Server, original_venv, ours_bin, server_pair  # noqa: E402


@pytest.fixture(scope="session")
def venv() -> Path:
    """The original's virtual environment (built on first use, then cached)."""
    try:
        return original_venv()
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"cannot build the original forsun's environment: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def pair(venv, tmp_path_factory) -> Iterator[tuple[Server, Server]]:
    """The original forsund and ours, side by side, for one scenario module."""
    with server_pair(venv, tmp_path_factory.mktemp("pair")) as servers:
        yield servers


class Cli:
    """Runs a ``forsun`` command line client, the original's or ours."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def __call__(self, server: Server, *args: str, stdin: str | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.executable, "--port", str(server.port), *args],
                              input=stdin if stdin is not None else "",
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **ENV})


@pytest.fixture(scope="session")
def original_cli(venv) -> Cli:
    return Cli(str(venv / "bin" / "forsun"))


@pytest.fixture(scope="session")
def our_cli() -> Cli:
    return Cli(ours_bin("forsun"))


class Script:
    """Runs a script of ``tests/compat/scripts`` with an interpreter, the original's
    environment's or ours, and decodes the JSON it prints."""

    def __init__(self, python: str) -> None:
        self.python = python

    def __call__(self, name: str, *args: Any, timeout: float = 120,
                 env: dict[str, str] | None = None) -> Any:
        result = subprocess.run([self.python, str(HERE / "scripts" / name), *map(str, args)],
                                capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, **ENV, **(env or {})})
        assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
        return json.loads(result.stdout)


@pytest.fixture(scope="session")
def original_python(venv) -> Script:
    return Script(str(venv / "bin" / "python"))


@pytest.fixture(scope="session")
def our_python() -> Script:
    return Script(sys.executable)


def run_both(original: Server, ours: Server, original_run, our_run,
             args: Sequence[str] = (), **kwargs: Any) -> tuple[Any, Any]:
    """``original_run(original, *args)`` and ``our_run(ours, *args)``."""
    return original_run(original, *args, **kwargs), our_run(ours, *args, **kwargs)
