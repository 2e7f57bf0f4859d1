"""Sessions: ``tests`` (one per package, and the workspace's integration tests), ``lint``,
``conformance``, ``bench``, ``compat`` (the differential suite against the original forsun
0.1.4), and for a release ``bump`` and ``dist``.

Every session runs in the workspace's own environment (``uv sync --all-packages``), so
``uv run nox`` on a fresh machine needs nothing but uv.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nox
from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).parent
PACKAGES = sorted(
    str(path.parent.relative_to(ROOT))
    for pattern in ("core/pyproject.toml", "plugins/*/pyproject.toml", "examples/*/pyproject.toml")
    for path in ROOT.glob(pattern)
)
#: What ``nox -s tests`` runs, one session each: every package's tests, then ``tests``, the
#: integration tests (the core and its plugins together, in real forsund processes).
TEST_SUITES = [*PACKAGES, "tests"]
RESULTS = ROOT / ".ci" / "results"
DIST = ROOT / "dist"
CHANGELOG = ROOT / "CHANGELOG.md"

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "none"


def _sync(session: nox.Session) -> None:
    session.run("uv", "sync", "--all-packages", "--quiet", external=True)


@nox.session
@nox.parametrize("suite", TEST_SUITES, ids=TEST_SUITES)
def tests(session: nox.Session, suite: str) -> None:
    """Run a package's tests (``nox -s "tests(core)"``) or the integration tests (``tests``)."""
    _sync(session)
    RESULTS.mkdir(parents=True, exist_ok=True)
    junit = RESULTS / (suite.replace("/", "_") + ".xml")
    folder = suite if suite == "tests" else f"{suite}/tests"
    session.run("uv", "run", "--all-packages", "pytest", folder, f"--junitxml={junit}",
                *session.posargs, external=True)


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


#: The differential suite (tests/compat): its scenario modules are named compat_*.py, so a
#: pytest run of the workspace's tests/ never collects them.
COMPAT = ROOT / "tests" / "compat"


@nox.session
def compat(session: nox.Session) -> None:
    """The original forsun 0.1.4 (installed once into a cached virtual environment, see
    tests/compat/original.py) and ours side by side, the same scenarios against both."""
    _sync(session)
    RESULTS.mkdir(parents=True, exist_ok=True)
    session.run("uv", "run", "--all-packages", "pytest", "-o", "python_files=compat_*.py",
                "-p", "no:cacheprovider", str(COMPAT.relative_to(ROOT)),
                f"--junitxml={RESULTS / 'compat.xml'}", *session.posargs, external=True)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks; results in bench/results/latest.md and .json. Without arguments, the
    original forsun 0.1.4 runs beside forsund (``--against-original``: its virtual
    environment is built once by tests/compat/original.py)."""
    _sync(session)
    args = session.posargs or ["--against-original"]
    session.run("uv", "run", "--all-packages", "python", "-m", "bench", *args,
                external=True, env={"PYTHONPATH": os.fspath(ROOT)})


@nox.session
def bump(session: nox.Session) -> None:
    """Move every distribution to one new version (``nox -s bump -- 1.0.1``): each
    pyproject.toml's version, the bounds between them (``forsun>=1.0,<2``: the new
    major.minor up to the next major), uv.lock, and the changelog's Unreleased section.
    Nothing is written unless every file can be changed."""
    if len(session.posargs) != 1:
        session.error("usage: nox -s bump -- VERSION (for example 1.0.1)")
    try:
        new = Version(session.posargs[0])
    except InvalidVersion:
        session.error(f"{session.posargs[0]!r} is not a version (for example 1.0.1)")
    projects = {package: _project(package) for package in PACKAGES}
    versions = {project["version"] for project in projects.values()}
    if len(versions) != 1:
        session.error(f"the distributions are not in lockstep ({', '.join(sorted(versions))}): "
                      "give each the same version by hand first")
    old = Version(versions.pop())
    if new <= old:
        session.error(f"{new} is not above the current version {old}: give a higher one")
    members = {project["name"] for project in projects.values()}
    changes = {}
    try:
        for package in PACKAGES:
            path = ROOT / package / "pyproject.toml"
            changes[path] = bumped_pyproject(path.read_text(encoding="utf-8"), new, members)
        changes[CHANGELOG] = bumped_changelog(CHANGELOG.read_text(encoding="utf-8"), old, new)
    except ValueError as exc:
        session.error(str(exc))
    for path, text in changes.items():
        path.write_text(text, encoding="utf-8")
    session.run("uv", "lock", "--quiet", external=True)
    session.log(f"{old} -> {new}: {len(PACKAGES)} distributions, uv.lock, CHANGELOG.md")


def bumped_pyproject(text: str, new: Version, members: set[str]) -> str:
    """``text`` of a pyproject.toml with its project version ``new`` and its dependencies on
    ``members`` bounded to ``>=MAJOR.MINOR,<MAJOR+1`` of ``new``; the rest as it was."""
    project = tomllib.loads(text)["project"]
    text = re.sub(r'^version = "[^"]*"$', f'version = "{new}"', text, count=1, flags=re.M)
    bound = f">={new.major}.{new.minor},<{new.major + 1}"
    extras = project.get("optional-dependencies", {}).values()
    for dependency in [*project.get("dependencies", []), *(d for e in extras for d in e)]:
        requirement = Requirement(dependency)
        if requirement.name not in members:
            continue
        if not requirement.specifier:  # a bare name would also match other strings
            raise ValueError(f"{project['name']}: {dependency!r} has no version bound; "
                             f"write '{requirement.name}{bound}' in its pyproject.toml first")
        extra = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        marker = f"; {requirement.marker}" if requirement.marker else ""
        text = text.replace(f'"{dependency}"', f'"{requirement.name}{extra}{bound}{marker}"')
    return text


def bumped_changelog(text: str, old: Version, new: Version) -> str:
    """``text`` of CHANGELOG.md with its Unreleased section turned into release ``new`` of
    today, under a new empty Unreleased section, and the links to compare (Keep a
    Changelog)."""
    if "\n## [Unreleased]\n" not in text:
        raise ValueError("CHANGELOG.md has no '## [Unreleased]' section to release")
    today = datetime.date.today().isoformat()
    text = text.replace("\n## [Unreleased]\n", f"\n## [Unreleased]\n\n## [{new}] - {today}\n", 1)
    link = re.search(r"^\[Unreleased\]: (\S+)/compare/\S+\.\.\.HEAD$", text, re.M)
    if link is None:
        raise ValueError("CHANGELOG.md has no '[Unreleased]: URL/compare/vX...HEAD' link")
    base = link.group(1)
    return text.replace(link.group(0), f"[Unreleased]: {base}/compare/v{new}...HEAD\n"
                                       f"[{new}]: {base}/compare/v{old}...v{new}")


def _project(package: str) -> dict:
    with open(ROOT / package / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


@nox.session
def dist(session: nox.Session) -> None:
    """Build every sdist and wheel into dist/, check them with twine, then install them as
    users do, with pip in fresh virtual environments (core/tests/dist_install.py)."""
    shutil.rmtree(DIST, ignore_errors=True)
    _parallel(session, [["uv", "build", "--quiet", "--out-dir", str(DIST), package]
                        for package in PACKAGES])
    built = sorted(str(path) for pattern in ("*.whl", "*.tar.gz") for path in DIST.glob(pattern))
    session.run("uvx", "--from", "twine>=6.1", "twine", "check", "--strict", *built,
                external=True)
    _sync(session)
    RESULTS.mkdir(parents=True, exist_ok=True)
    session.run("uv", "run", "--all-packages", "pytest", "core/tests/dist_install.py",
                f"--junitxml={RESULTS / 'dist.xml'}", *session.posargs,
                env={"FORSUN_DIST": str(DIST)}, external=True)


def _parallel(session: nox.Session, commands: list[list[str]], workers: int = 4) -> None:
    """Run ``commands`` a few at a time; an error names each one that failed."""
    session.log(f"{len(commands)} commands, {workers} at a time: {' '.join(commands[0][:2])} ...")
    with ThreadPoolExecutor(workers) as pool:
        runs = list(pool.map(lambda cmd: subprocess.run(cmd, capture_output=True, text=True),
                             commands))
    failed = [run for run in runs if run.returncode]
    for run in failed:
        session.log(f"{' '.join(run.args)} failed:\n{run.stdout}{run.stderr}")
    if failed:
        session.error(f"{len(failed)} of {len(commands)} commands failed")
