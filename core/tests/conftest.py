"""Fixtures shared by the core's tests."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import attrs
import pytest

from forsun.testing.process import ForsundProcess

pytest_plugins = ["forsun.testing.fixtures"]

# Helper modules beside the tests (--import-mode=importlib adds no path).
sys.path.insert(0, str(Path(__file__).parent))

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r'^```(\w*)(?: title="([^"]+)")?\n(.*?)^```$', re.S | re.M)


@attrs.frozen
class DocBlocks:
    """The fenced code blocks of a doc, as ``(language, title, text)``."""

    blocks: list[tuple[str, str, str]]

    @classmethod
    def read(cls, path: Path) -> DocBlocks:
        return cls(FENCE.findall(path.read_text(encoding="utf-8")))

    def write_titled(self, root: Path) -> None:
        """Write every block with a ``title="path"`` to that path under ``root``."""
        for _, title, text in self.blocks:
            if title:
                path = root / title
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="session")
def plugin_authors_doc() -> DocBlocks:
    """docs/plugin-authors.md, whose titled blocks are two complete example plugins."""
    return DocBlocks.read(DOCS / "plugin-authors.md")


def harmless_args() -> list[str]:
    """forsund flags that leave only ``shell`` (allowed: ``true``) as an action."""
    blocked = sorted({ep.name for ep in importlib.metadata.entry_points(group="forsun")
                      if ep.name.startswith("action_") and ep.name != "action_shell"})
    return ["--driver-mem-store-file", "", "--action-shell-allow", "true",
            *(arg for name in blocked for arg in ("--block-plugin", name))]


@pytest.fixture(scope="module")
def harmless_forsund(module_forsunds) -> ForsundProcess:
    """A real forsund per test module whose only action is a shell allowed to run ``true``
    (for fuzzing: nothing a random plan does can touch the machine)."""
    return module_forsunds.start(*harmless_args())
