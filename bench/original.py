"""``--against-original``: the original forsun 0.1.4 as the compared server. Its virtual
environment (built once, then cached) and its start-up come from the compat suite's helper,
``tests/compat/original.py``; the bench only wraps the running server as a :class:`Target`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType

from .target import REPO, Target

#: How the original's rows are labelled.
NAME = "original 0.1.4"
HELPER = REPO / "tests" / "compat" / "original.py"


@cache
def helper() -> ModuleType:
    """tests/compat/original.py, imported by path (tests/ is no package)."""
    spec = importlib.util.spec_from_file_location("forsun_compat_original", HELPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs resolves the module's annotations through it
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def original(workdir: Path) -> Iterator[Target]:
    """The original forsund running in ``workdir`` (mem store), as a :class:`Target`;
    stopped on exit. Builds its virtual environment on first use."""
    compat = helper()
    print("[bench] the original forsun 0.1.4: its virtual environment (cached after the "
          "first build)", file=sys.stderr, flush=True)
    venv = compat.original_venv()
    server = compat.start_server("original", compat.original_command(venv, workdir), workdir)
    try:
        pid = server.proc.pid
        yield Target(NAME, "127.0.0.1", server.port, server.http_port, pid, pid)
    finally:
        server.stop()
