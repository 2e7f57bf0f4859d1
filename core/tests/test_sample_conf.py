"""``forsund sample-conf``: every option of the installed plugins, with its flag, help and
default, in an INI file that forsund reads back (issue 25 item 6)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from forsun.options import TOP_SECTION, read_ini, resolve
from forsun.plugins import collect_options, get_plugin_manager


@pytest.fixture(scope="module")
def sample() -> str:
    result = subprocess.run([sys.executable, "-m", "forsun.commands.forsund", "sample-conf"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stderr == ""
    return result.stdout


@pytest.fixture(scope="module")
def declared():
    return collect_options(get_plugin_manager())


def every_setting_set(sample: str, path: Path) -> Path:
    """The sample with every setting's ``#`` removed (help lines start with ``# ``)."""
    path.write_text(re.sub(r"^#(?=\S)", "", sample, flags=re.M))
    return path


def test_as_printed_it_sets_nothing(sample, tmp_path):
    (tmp_path / "sample.conf").write_text(sample)
    assert read_ini(tmp_path / "sample.conf") == {
        TOP_SECTION: {}, "store": {}, "action": {}, "extension": {}}


def test_every_option_is_listed_under_its_section_with_its_default(sample, declared, tmp_path):
    conf = every_setting_set(sample, tmp_path / "defaults.conf")
    listed = {(section, key) for section, items in read_ini(conf).items() for key in items}
    options = [opt for opts in declared.values() for opt in opts]
    assert listed == {(opt.section or TOP_SECTION, opt.ini_key) for opt in options}
    resolved = resolve(["--conf", str(conf)], declared)
    assert {opt.dest: resolved[opt.dest] for opt in options} == \
        {opt.dest: opt.default for opt in options}


def test_every_option_has_its_flag_and_help_above_it(sample, declared):
    about = " ".join(line[2:] for line in sample.splitlines() if line.startswith("# "))
    for plugin, options in declared.items():
        for opt in options:
            assert re.search(rf"^# {re.escape(opt.flag)}[ (]", sample, re.M), opt.flag
            assert f"(plugin {plugin})" in about
            assert " ".join(opt.help.split()) in about, opt.flag


def test_forsund_starts_with_every_default_set_by_the_sample(sample, tmp_path, forsunds):
    conf = every_setting_set(sample, tmp_path / "forsund.conf")
    daemon = forsunds.start("--conf", str(conf))
    info = daemon.api("GET", "/v1/info")
    assert (info["current_store"], info["mem_store_fsync"]) == ("mem", "everysec")
    assert info["mem_store_file"] == str(tmp_path / "forsun.db")  # relative to its cwd
    assert daemon.stop() == 0
