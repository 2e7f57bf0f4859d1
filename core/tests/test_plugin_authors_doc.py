"""docs/plugin-authors.md works as written.

Every code block with a ``title="path"`` is written to that path. Each example plugin is
then made visible to child processes the way ``pip install -e`` would: its ``src`` on the
path plus a ``.dist-info`` holding the entry points its pyproject.toml declares. The child
processes load the plugins through those entry points and run the plugins' tests, whose
rootdir and configuration are the example's own (pytest-asyncio strict mode).
"""

import json
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from forsun.options import read_ini
from forsun.testing.services import free_port

PLUGINS = ["forsun-action-tcpline", "forsun-store-journal"]


def install_metadata(pyproject: Path, site: Path) -> None:
    """Write the ``.dist-info`` an install of ``pyproject``'s project would write (name,
    version, entry points), so importlib.metadata finds its entry points."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    name, version = project["name"], project["version"]
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    sections = []
    for group, entries in project.get("entry-points", {}).items():
        lines = [f"{entry} = {target}" for entry, target in entries.items()]
        sections.append("\n".join([f"[{group}]", *lines]))
    (dist_info / "entry_points.txt").write_text("\n\n".join(sections) + "\n")


@pytest.fixture(scope="module")
def example(tmp_path_factory, plugin_authors_doc):
    """The doc's files under a temporary root; returns (root, env for child processes)."""
    root = tmp_path_factory.mktemp("plugin-authors")
    plugin_authors_doc.write_titled(root)
    site = root / "site-packages"
    paths = [str(site)]
    for plugin in PLUGINS:
        install_metadata(root / plugin / "pyproject.toml", site)
        paths.append(str(root / plugin / "src"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    return root, env


def test_the_doc_has_every_file_of_both_plugins(example):
    root, _ = example
    for plugin in PLUGINS:
        files = {path.relative_to(root / plugin).as_posix()
                 for path in (root / plugin).rglob("*") if path.is_file()}
        package = plugin.replace("forsun-", "forsun_").replace("-", "_")
        assert {"pyproject.toml", f"src/{package}/__init__.py",
                "tests/test_conformance.py"} <= files


def test_the_entry_points_register_the_plugins(example):
    root, env = example
    script = (
        "import json\n"
        "from forsun.plugins import collect_actions, collect_options, collect_stores, "
        "get_plugin_manager\n"
        "pm = get_plugin_manager()\n"
        "print(json.dumps({'actions': collect_actions(pm).names(),"
        " 'stores': collect_stores(pm).names(),"
        " 'options': {name: [opt.flag for opt in opts]"
        " for name, opts in collect_options(pm).items()}}))\n")
    run = subprocess.run([sys.executable, "-c", script], env=env, cwd=root,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert "tcpline" in found["actions"]
    assert "journal" in found["stores"]
    assert found["options"]["action_tcpline"] == ["--action-tcpline-connect-timeout"]
    assert found["options"]["store_journal"] == ["--driver-journal-file"]


# The tcpline target declares a non-blocking client and no session state on its connections:
# the thread-pool and the connection-state tests are skipped. The journal store keeps no
# failures list and does not declare inline: those 7 tests are skipped.
@pytest.mark.parametrize(("plugin", "at_least", "skipped"), [("forsun-action-tcpline", 9, 2),
                                                             ("forsun-store-journal", 60, 7)])
def test_the_example_passes_the_conformance_suite(example, plugin, at_least, skipped):
    root, env = example
    report = root / f"{plugin}.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--junitxml={report}", "tests"],
        cwd=root / plugin, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    suite = next(ET.parse(report).iter("testsuite"))
    assert int(suite.get("skipped")) == skipped, run.stdout[-3000:]
    ran = int(suite.get("tests")) - skipped
    assert ran >= at_least, f"only {ran} tests ran:\n{run.stdout[-3000:]}"
    assert "PytestUnknownMarkWarning" not in run.stdout


def test_the_untitled_python_snippets_run(plugin_authors_doc):
    snippets = [text for language, title, text in plugin_authors_doc.blocks
                if language == "python" and not title]
    assert snippets
    for text in snippets:
        exec(compile(text, "docs/plugin-authors.md", "exec"), {})


def test_the_last_step_runs_both_plugins_in_forsund(example, plugin_authors_doc, forsunds):
    """The doc's last commands, with free ports: the INI file selects the journal store
    and sets the action's option, and a tcpline plan fires at the doc's target."""
    root, env = example
    target_port, http_port = free_port(), free_port()
    commands = next(text for language, _, text in plugin_authors_doc.blocks
                    if language == "sh" and "tcpline_target.py" in text)
    commands = commands.replace("9999", str(target_port)).replace("8080", str(http_port))
    target_line, forsund_line, curl_line = commands.splitlines()
    target_args = shlex.split(target_line.removesuffix(" &"))
    assert target_args[0] == "python"
    received = root / "target.out"
    with open(received, "wb") as out:
        target = subprocess.Popen([sys.executable, *target_args[1:]], cwd=root, stdout=out)
    forsund_args = shlex.split(forsund_line.removesuffix(" &"))
    assert forsund_args[0] == "forsund"
    daemon = forsunds.start(*forsund_args[1:], workdir=root, http_port=http_port, env=env)
    try:
        reply = subprocess.run(curl_line, shell=True, capture_output=True, text=True,
                               timeout=30)
        assert json.loads(reply.stdout)["errcode"] == 0, reply.stdout + reply.stderr
        assert (root / "plans.journal").exists()
        deadline = time.monotonic() + 30
        while "hello" not in received.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert received.read_text(), daemon.log_text()[-3000:]
    finally:
        target.kill()
        target.wait()
    line = json.loads(received.read_text())
    assert (line["key"], line["body"]) == ("hello", "hi")


def test_sample_conf_lists_the_plugins_options_under_their_sections(example):
    root, env = example
    run = subprocess.run([sys.executable, "-m", "forsun.commands.forsund", "sample-conf"],
                         env=env, cwd=root, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    (root / "sample.conf").write_text(re.sub(r"^#(?=\S)", "", run.stdout, flags=re.M))
    sections = read_ini(root / "sample.conf")
    assert "tcpline_connect_timeout" in sections["action"]
    assert "journal_file" in sections["store"]
    assert "(plugin action_tcpline)" in run.stdout and "(plugin store_journal)" in run.stdout
