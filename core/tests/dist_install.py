"""The release as users get it: the built distributions, installed with pip.

Run by ``nox -s dist``, which builds every sdist and wheel into ``dist/`` and passes that
folder as ``FORSUN_DIST``. The file is named so that ``pytest core/tests`` does not collect
it: it needs the built files and the package registry (dependencies come from there).

Three fresh virtual environments (plain ``python -m venv`` and its pip, made at once):
``forsun forsun-action-celery``; ``forsun`` alone; and ``forsun[testing]`` from the built
wheel plus the two plugins of docs/plugin-authors.md, written to a folder outside the
workspace and installed with ``pip install -e '.[test]'``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from forsun.testing.services import free_port, reachable

ROOT = Path(__file__).resolve().parents[2]
DOC_PLUGINS = ["forsun-action-tcpline", "forsun-store-journal"]
DEFAULT = {"forsun", "forsun-store-mem", "forsun-action-shell", "forsun-action-http",
           "forsun-frontend-web"}


def _version() -> str:
    with open(ROOT / "core" / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


VERSION = _version()


@pytest.fixture(scope="session")
def dist() -> Path:
    if "FORSUN_DIST" not in os.environ:
        pytest.fail("FORSUN_DIST is not set: run these checks with `uv run nox -s dist`",
                    pytrace=False)
    return Path(os.environ["FORSUN_DIST"])


def run(*cmd: str | Path, cwd: Path | None = None, timeout: float = 600) -> str:
    """stdout of ``cmd``; fails the test with its output when it exits non-zero."""
    done = subprocess.run([str(arg) for arg in cmd], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}:\n{done.stdout}{done.stderr}"
    return done.stdout


def make_venv(path: Path, dist: Path, *installs: list[str], cwd: Path | None = None) -> Path:
    """A fresh venv at ``path`` with each of ``installs`` pip-installed in turn (``DIST``
    as an extra place to find distributions); returns its bin folder."""
    run(sys.executable, "-m", "venv", path)
    for args in installs:
        run(path / "bin" / "pip", "install", "--quiet", "--find-links", dist, *args, cwd=cwd)
    return path / "bin"


@pytest.fixture(scope="session")
def doc_plugins(tmp_path_factory, plugin_authors_doc) -> Path:
    """The files of docs/plugin-authors.md, in a folder outside the workspace."""
    root = tmp_path_factory.mktemp("plugin-authors")
    plugin_authors_doc.write_titled(root)
    return root


@pytest.fixture(scope="session")
def venvs(dist: Path, doc_plugins: Path, tmp_path_factory) -> Iterator[dict[str, Future[Path]]]:
    """The three environments, built concurrently; each test waits for its own."""
    root = tmp_path_factory.mktemp("venvs")
    wheel = next(dist.glob(f"forsun-{VERSION}-py3-none-any.whl"))
    jobs = {
        "server": (["forsun", "forsun-action-celery"],),
        "bare": (["forsun"],),
        "plugins": ([f"{wheel}[testing]"],
                    *(["-e", f"./{plugin}[test]"] for plugin in DOC_PLUGINS)),
    }
    with ThreadPoolExecutor(len(jobs)) as pool:
        yield {name: pool.submit(make_venv, root / name, dist, *installs, cwd=doc_plugins)
               for name, installs in jobs.items()}


def installed(bin_dir: Path) -> dict[str, str]:
    """``{name: version}`` of the forsun distributions in the venv of ``bin_dir``."""
    listing = json.loads(run(bin_dir / "pip", "list", "--format", "json"))
    return {item["name"].lower(): item["version"] for item in listing
            if item["name"].lower().startswith("forsun")}


def check_dashboard(url: str) -> None:
    """The dashboard's page and a vendored file of it come from the installed wheel."""
    with urllib.request.urlopen(url, timeout=30) as page:
        assert b'src="app.js"' in page.read()
    with urllib.request.urlopen(url + "vendor/uplot/uPlot.iife.min.js", timeout=30) as js:
        assert len(js.read()) > 10_000


def fire_a_plan(bin_dir: Path, workdir: Path) -> None:
    """Start the venv's ``forsund`` on free ports with a mem store in ``workdir``, check its
    dashboard, create a one-off delay plan of 1 s with the venv's ``forsun`` client (a
    shell command writing a file) and wait for the file."""
    port, http_port = free_port(), free_port()
    fired = workdir / "fired"
    log = workdir / "forsund.log"
    with open(workdir / "stderr.log", "wb") as stderr:
        daemon = subprocess.Popen(
            [bin_dir / "forsund", "--port", str(port), "--http", f"127.0.0.1:{http_port}",
             "--driver-mem-store-file", workdir / "forsun.db", "--log", log],
            cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while not (reachable("127.0.0.1", port) and reachable("127.0.0.1", http_port)) \
                and time.monotonic() < deadline:
            assert daemon.poll() is None, (workdir / "stderr.log").read_text()
            time.sleep(0.1)
        check_dashboard(f"http://127.0.0.1:{http_port}/ui/")
        run(bin_dir / "forsun", "--port", str(port),
            f"set dist-check */1/1 * * * * * shell 'cmd=touch {fired}'")
        deadline = time.monotonic() + 60
        while not fired.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert fired.exists(), log.read_text()[-3000:]
    finally:
        daemon.terminate()
        assert daemon.wait(30) == 0, log.read_text()[-3000:]


def test_every_built_wheel_carries_the_release_metadata(dist):
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    packages = sorted(ROOT.glob("core/pyproject.toml")) + sorted(
        ROOT.glob("plugins/*/pyproject.toml")) + sorted(ROOT.glob("examples/*/pyproject.toml"))
    assert len(wheels) == len(sdists) == len(packages)
    names = {tomllib.loads(p.read_text())["project"]["name"] for p in packages}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            files = archive.namelist()
            info = next(f for f in files if f.endswith(".dist-info/METADATA"))
            metadata = HeaderParser().parsestr(archive.read(info).decode())
        assert metadata["Version"] == VERSION, wheel.name
        assert metadata["License-Expression"] == "MIT", wheel.name
        assert any(f.endswith(".dist-info/licenses/LICENSE") for f in files), wheel.name
        assert metadata.get_all("Classifier") and metadata.get_all("Project-URL"), wheel.name
        assert metadata["Description-Content-Type"] == "text/markdown", wheel.name
        packages_in = {f.split("/")[0] for f in files if f.endswith("/__init__.py")}
        for package in packages_in:
            assert f"{package}/py.typed" in files, f"{wheel.name}: {package} has no py.typed"
        for requirement in map(Requirement, metadata.get_all("Requires-Dist") or []):
            if requirement.name in names:
                assert str(requirement.specifier) == "<2,>=1.0", f"{wheel.name}: {requirement}"


def test_forsun_and_celery_install_from_dist_and_fire_a_plan(venvs, tmp_path):
    bin_dir = venvs["server"].result()
    assert installed(bin_dir) == dict.fromkeys(DEFAULT | {"forsun-action-celery"}, VERSION)
    listing = run(bin_dir / "forsund", "plugins")
    assert f"action_celery  (forsun-action-celery {VERSION})" in listing
    assert "actions: celery" in listing
    fire_a_plan(bin_dir, tmp_path)


def test_forsun_alone_is_a_working_server_on_the_embedded_default(venvs, tmp_path):
    bin_dir = venvs["bare"].result()
    assert installed(bin_dir) == dict.fromkeys(DEFAULT, VERSION)
    listing = run(bin_dir / "forsund", "plugins")
    for plugin in ("store_mem", "action_shell", "action_http", "frontend_web"):
        assert f"{plugin}  (forsun-" in listing
    assert "action_celery" not in listing
    fire_a_plan(bin_dir, tmp_path)


@pytest.mark.parametrize(("plugin", "at_least"), [("forsun-action-tcpline", 9),
                                                  ("forsun-store-journal", 60)])
def test_a_plugin_from_the_doc_passes_the_conformance_suite(venvs, doc_plugins, plugin,
                                                           at_least):
    bin_dir = venvs["plugins"].result()
    assert installed(bin_dir)["forsun"] == VERSION
    folder = doc_plugins / plugin
    report = folder / "report.xml"
    run(bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
        f"--junitxml={report}", cwd=folder)
    suite = next(ET.parse(report).iter("testsuite"))
    ran = int(suite.get("tests")) - int(suite.get("skipped"))
    assert ran >= at_least, f"only {ran} tests of {plugin} ran"
