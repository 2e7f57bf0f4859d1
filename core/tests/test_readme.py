"""The README's Python example runs as written against a real forsund."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_creates_a_plan(forsunds):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    daemon = forsunds.start("--driver-mem-store-file", "")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("6458", str(daemon.port)), "README.md", "exec"), {})
    next_time = int(out.getvalue())
    assert abs(next_time - (time.time() + 1800)) <= 2


def test_readme_starts_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert lines[2:6] == ["```sh", "pip install uv && uv run forsund",
                          "pip install uv && uv run nox", "```"]


def readme_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)


def test_readme_shows_the_pip_path():
    assert "pip install forsun && forsund\n" in readme_blocks("sh")[1]


def test_the_tour_runs_as_written(forsunds):
    """The tour's first seven lines against a real forsund, with its ports swapped in."""
    tour = readme_blocks("sh")[2].splitlines()
    assert tour[0].startswith("uv run forsund --http 127.0.0.1:9000 &")
    daemon = forsunds.start("--driver-mem-store-file", "")
    bin_dir = Path(sys.executable).parent
    outputs = []
    for line in tour[1:]:
        command = (line.replace("uv run forsun ", f"{bin_dir}/forsun --port {daemon.port} ")
                   .replace("uv run forsund ", f"{bin_dir}/forsund ")
                   .replace("localhost:9000", f"127.0.0.1:{daemon.http_port}"))
        run = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, f"{line}\n{run.stdout}{run.stderr}"
        outputs.append(run.stdout)
    assert " job1 */5/1 * * * * * shell \"cmd='ls'\"" in outputs[1]  # the original's line
    assert "next_time" in outputs[2]  # -v: every field
    created = json.loads(outputs[3])
    assert created["errcode"] == 0, created
    assert (created["data"]["key"], created["data"]["count"]) == ("pay:42", 1)
    assert abs(created["data"]["next_time"] - (time.time() + 1800)) <= 5
    assert json.loads(outputs[4])["data"] == ["pay:42"]
    assert "store_mem" in outputs[6]


def test_the_tour_says_what_count_means():
    text = " ".join(README.read_text().split())
    assert '"count":1' in readme_blocks("sh")[2]
    assert "`count` 0 means forever" in text
    assert "Python client's `create_timeout` default to 1" in text


def test_tour_lines_that_need_more_say_what_they_need():
    lines = readme_blocks("sh")[3].splitlines()
    assert lines and all(re.search(r"\s# \S", line) for line in lines), lines
    members = {tomllib.loads(path.read_text())["project"]["name"]
               for path in README.parent.glob("*/*/pyproject.toml")}
    for package in re.findall(r"uv run --package (\S+)", "\n".join(lines)):
        assert package in members
    extension = re.search(r"cd (\S+) && uv run forsund --extension-path \./ --extension "
                          r"(\w+)\.", "\n".join(lines))
    assert (README.parent / extension.group(1) / f"{extension.group(2)}.py").is_file()
