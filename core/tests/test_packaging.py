"""Every distribution is ready to publish: one version, bounded dependencies on each other,
the metadata a package index shows, READMEs that stand alone, a changelog, a version bump
in one command, and the operations files. (The built files themselves, installed with
pip, are checked by ``nox -s dist``: core/tests/dist_install.py.)"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from trove_classifiers import classifiers as KNOWN_CLASSIFIERS

import forsun

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(path.parent for pattern in ("core", "plugins/*", "examples/*")
                  for path in ROOT.glob(f"{pattern}/pyproject.toml"))
REPOSITORY = "https://github.com/forsun-dev/forsun"
DEFAULT_PLUGINS = {"forsun-store-mem", "forsun-action-shell", "forsun-action-http",
                   "forsun-frontend-web"}
LINK = re.compile(r"\]\(([^)]*)\)")


def project(package: Path) -> dict:
    return tomllib.loads((package / "pyproject.toml").read_text(encoding="utf-8"))


def members() -> dict[str, dict]:
    """``{distribution name: project table}`` of every workspace member."""
    return {data["project"]["name"]: data["project"] for data in map(project, PACKAGES)}


def import_packages(package: Path) -> list[Path]:
    """The folders of the import packages the wheel of ``package`` ships."""
    wheel = project(package)["tool"]["hatch"]["build"]["targets"]["wheel"]
    return [package / folder for folder in wheel.get("packages", [])]


def test_every_distribution_is_at_the_same_version_above_the_original():
    versions = {name: meta["version"] for name, meta in members().items()}
    assert len(set(versions.values())) == 1, versions
    # The original forsun's last release is 0.1.4: ours must win pip's resolution.
    assert Version(versions["forsun"]) >= Version("1.0")


def test_dependencies_between_distributions_are_bounded_to_the_major():
    found = members()
    version = Version(found["forsun"]["version"])
    bound = SpecifierSet(f">={version.major}.{version.minor},<{version.major + 1}")
    for name, meta in found.items():
        extras = meta.get("optional-dependencies", {}).values()
        internal = {req.name: req.specifier for req in map(Requirement, [
            *meta.get("dependencies", []), *(dep for extra in extras for dep in extra)])
            if req.name in found}
        assert set(internal.values()) <= {bound}, f"{name}: {internal}"
        expected = DEFAULT_PLUGINS if name == "forsun" else {"forsun"}
        assert set(internal) == expected, name


def test_the_core_reports_its_distribution_version():
    assert forsun.__version__ == importlib.metadata.version("forsun")


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_the_metadata_a_package_index_shows(package):
    meta = project(package)["project"]
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
    assert (package / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert meta["description"] and meta["keywords"] and meta["authors"]
    assert (package / meta["readme"]).is_file()
    unknown = [c for c in meta["classifiers"] if c not in KNOWN_CLASSIFIERS]
    assert not unknown, f"not trove classifiers (PyPI refuses the upload): {unknown}"
    assert not [c for c in meta["classifiers"] if c.startswith("License ::")], \
        "a license classifier next to the SPDX expression is refused by PyPI"
    oldest = SpecifierSet(meta["requires-python"])
    pythons = [c.rsplit(" ", 1)[1] for c in meta["classifiers"]
               if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert pythons and all(Version(v) in oldest for v in pythons), pythons
    urls = meta["urls"]
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls)
    assert all(url.startswith(REPOSITORY) for url in urls.values()), urls


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_every_import_package_is_typed(package):
    folders = import_packages(package)
    typed = "Typing :: Typed" in project(package)["project"]["classifiers"]
    for folder in folders:
        assert (folder / "__init__.py").is_file(), folder
        assert (folder / "py.typed").is_file(), f"{folder} has no py.typed"
    # A distribution of plain modules (the celery example) has nothing PEP 561 can mark.
    assert typed == bool(folders), package.name


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_every_readme_reads_on_its_own(package):
    text = (package / "README.md").read_text(encoding="utf-8")
    name = project(package)["project"]["name"]
    relative = [target for target in LINK.findall(text)
                if not target.startswith(("https://", "http://", "#"))]
    assert not relative, f"links a package index cannot follow: {relative}"
    assert not re.search(r"(?<!\.)\.\./", text), "a ../ path means nothing on an index"
    install = "pip install forsun" if name in DEFAULT_PLUGINS else f"pip install {name}"
    assert install in text, f"{name}'s README does not say `{install}`"


def test_absolute_links_into_the_repository_name_files_that_exist():
    texts = [(p / "README.md").read_text(encoding="utf-8") for p in PACKAGES]
    texts += [(p / "pyproject.toml").read_text(encoding="utf-8") for p in PACKAGES]
    texts.append((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))
    paths = {match.group(1) for text in texts for match in re.finditer(
        re.escape(REPOSITORY) + r"/(?:blob|tree)/main/([^)\s\"#]+)", text)}
    assert paths
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert not missing


def test_the_core_readme_says_what_forsun_is_and_how_to_start_it():
    text = (ROOT / "core" / "README.md").read_text(encoding="utf-8")
    assert "timed-task service" in text
    assert "```sh\npip install forsun\nforsund --http 127.0.0.1:9000\n```" in text
    for doc in ("operations.md", "architecture.md", "plugin-authors.md"):
        assert f"]({REPOSITORY}/blob/main/docs/{doc})" in text


def test_the_changelog_keeps_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "https://keepachangelog.com/en/1.1.0/" in text
    headings = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.M)
    assert headings[0] == ("Unreleased", "")
    releases = headings[1:]
    assert releases and all(date for _, date in releases)
    assert releases[0][0] == members()["forsun"]["version"]
    assert releases[-1][0] == "1.0.0"
    sections = set(re.findall(r"^### (.+)$", text, re.M))
    assert sections <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    for version, _ in headings:
        assert re.search(rf"^\[{re.escape(version)}\]: {re.escape(REPOSITORY)}/", text, re.M)


def test_files_a_run_leaves_are_ignored_by_git():
    left = ["forsun.db", "forsun.db.log", "forsun.db.snapshot", "forsun.db.lock",
            ".ci/results/core.xml", "dist/forsun-1.0.0.tar.gz"]
    run = subprocess.run(["git", "check-ignore", "--no-index", *left], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.stdout.split() == left, run.stderr


@pytest.fixture(scope="module")
def workspace_copy(tmp_path_factory) -> Path:
    """The tracked files of the workspace (as committed or being changed), in a folder."""
    copy = tmp_path_factory.mktemp("workspace")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    return copy


def bump(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nox", "-f", str(copy / "noxfile.py"),
                           "-s", "bump", "--", *args], cwd=copy, capture_output=True,
                          text=True, timeout=300)


def test_one_command_bumps_every_version_in_lockstep(workspace_copy):
    old = members()["forsun"]["version"]
    run = bump(workspace_copy, "1.1.0")
    assert run.returncode == 0, run.stdout + run.stderr
    for package in PACKAGES:
        meta = project(workspace_copy / package.relative_to(ROOT))["project"]
        assert meta["version"] == "1.1.0", package.name
        for dependency in map(Requirement, meta["dependencies"]):
            if dependency.name.startswith("forsun"):
                assert dependency.specifier == SpecifierSet(">=1.1,<2"), package.name
    lock = tomllib.loads((workspace_copy / "uv.lock").read_text())
    locked = {p["name"]: p.get("version") for p in lock["package"]}
    assert {locked[name] for name in members()} == {"1.1.0"}
    changelog = (workspace_copy / "CHANGELOG.md").read_text()
    assert re.search(r"^## \[Unreleased\]\n\n## \[1\.1\.0\] - \d{4}-\d{2}-\d{2}\n", changelog,
                     re.M)
    assert f"[1.1.0]: {REPOSITORY}/compare/v{old}...v1.1.0" in changelog
    assert f"[Unreleased]: {REPOSITORY}/compare/v1.1.0...HEAD" in changelog


@pytest.mark.parametrize(("args", "message"), [
    (("1.0.0",), "is not above the current version"),
    (("one",), "is not a version"),
    ((), "usage: nox -s bump -- VERSION")])
def test_the_bump_refuses_a_version_that_is_not_higher(workspace_copy, args, message):
    before = (workspace_copy / "core" / "pyproject.toml").read_text()
    run = bump(workspace_copy, *args)
    assert run.returncode != 0 and message in run.stderr, run.stderr
    assert (workspace_copy / "core" / "pyproject.toml").read_text() == before


def test_the_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit is not verified")
    unit = (ROOT / "docs" / "forsund.service").read_text()
    assert "ExecStart=/opt/forsun/bin/forsund --conf /etc/forsun/forsund.conf\n" in unit
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "python3 -m venv /opt/forsun && /opt/forsun/bin/pip install forsun" in operations
    # verify checks that ExecStart exists: point it at this environment's forsund.
    forsund = Path(sys.executable).parent / "forsund"
    (tmp_path / "forsund.service").write_text(
        unit.replace("/opt/forsun/bin/forsund", str(forsund)))
    run = subprocess.run([analyze, "verify", str(tmp_path / "forsund.service")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "forsund.service" not in run.stderr, run.stderr


def test_the_bump_changes_nothing_when_a_bound_is_missing(workspace_copy):
    shell = workspace_copy / "plugins" / "forsun-action-shell" / "pyproject.toml"
    bounded = shell.read_text()
    shell.write_text(re.sub(r'"forsun>=[^"]*"', '"forsun"', bounded))
    core_before = (workspace_copy / "core" / "pyproject.toml").read_text()
    try:
        run = bump(workspace_copy, "9.0.0")
    finally:
        shell.write_text(bounded)
    assert run.returncode != 0
    assert "forsun-action-shell: 'forsun' has no version bound" in run.stderr, run.stderr
    assert (workspace_copy / "core" / "pyproject.toml").read_text() == core_before
