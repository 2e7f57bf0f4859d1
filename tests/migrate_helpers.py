"""Running ``forsund migrate`` and reading stores back, for the migration tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

FORSUND = [sys.executable, "-m", "forsun.commands.forsund"]


def migrate(*args: str, cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """``forsund migrate ARGS`` in a child process (stdout and stderr captured)."""
    return subprocess.run([*FORSUND, "migrate", *args], cwd=cwd, input=stdin.decode(),
                          capture_output=True, text=True, timeout=120)


def ndjson_plans(path: Path) -> dict[str, dict]:
    """The plans of an ndjson file by key."""
    lines = path.read_bytes().splitlines()
    return {plan["key"]: plan for plan in map(orjson.loads, filter(None, lines))}


def exported(store_url: str, workdir: Path) -> dict[str, dict]:
    """Every plan of a store, by key (through ``forsund migrate STORE ndjson:FILE``)."""
    out = workdir / "exported.ndjson"
    done = migrate(store_url, f"ndjson:{out}", cwd=workdir)
    assert done.returncode == 0, done.stderr
    return ndjson_plans(out)
