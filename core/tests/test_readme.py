"""The README's Python example runs as written against a real forsund."""

from __future__ import annotations

import contextlib
import io
import re
import time
from pathlib import Path

from forsun.testing.process import start_forsund

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_creates_a_plan(tmp_path):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    daemon = start_forsund(["--driver-mem-store-file", ""], workdir=tmp_path)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code.replace("6458", str(daemon.port)), "README.md", "exec"), {})
    finally:
        daemon.stop()
    next_time = int(out.getvalue())
    assert abs(next_time - (time.time() + 1800)) <= 2


def test_readme_starts_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert lines[2:6] == ["```sh", "pip install uv && uv run forsund",
                          "pip install uv && uv run nox", "```"]
