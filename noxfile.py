"""Sessions: ``tests`` (one per package), ``lint``, ``conformance``, ``bench``.

Every session runs in the workspace's own environment (``uv sync --all-packages``), so
``uv run nox`` on a fresh machine needs nothing but uv.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKAGES = sorted(
    str(path.parent.relative_to(ROOT))
    for pattern in ("core/pyproject.toml", "plugins/*/pyproject.toml", "examples/*/pyproject.toml")
    for path in ROOT.glob(pattern)
)
RESULTS = ROOT / ".ci" / "results"

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "none"


def _sync(session: nox.Session) -> None:
    session.run("uv", "sync", "--all-packages", "--quiet", external=True)


@nox.session
@nox.parametrize("package", PACKAGES, ids=PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests (``nox -s "tests(core)"``)."""
    _sync(session)
    RESULTS.mkdir(parents=True, exist_ok=True)
    junit = RESULTS / (package.replace("/", "_") + ".xml")
    session.run("uv", "run", "--all-packages", "pytest", f"{package}/tests",
                f"--junitxml={junit}", *session.posargs, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole workspace."""
    _sync(session)
    session.run("uv", "run", "ruff", "check", ".", external=True)


@nox.session
def conformance(session: nox.Session) -> None:
    """The shared conformance suite against every installed store and action."""
    _sync(session)
    paths = [f"{package}/tests" for package in PACKAGES]
    session.run("uv", "run", "--all-packages", "pytest", "-m", "conformance", *paths,
                *session.posargs, external=True)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks; results in bench/results/latest.md and .json."""
    _sync(session)
    session.run("uv", "run", "--all-packages", "python", "-m", "bench", *session.posargs,
                external=True, env={"PYTHONPATH": os.fspath(ROOT)})
