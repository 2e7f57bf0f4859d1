"""The kept differences are written down where users look: each entry of
:data:`differences.KEPT_DIFFERENCES` is in docs/migrating.md, which the README links."""

from __future__ import annotations

import re
from pathlib import Path

from differences import KEPT_DIFFERENCES

ROOT = Path(__file__).parents[2]
MIGRATING = ROOT / "docs" / "migrating.md"


def test_every_kept_difference_is_in_the_migration_guide():
    text = MIGRATING.read_text()
    documented = re.findall(r"^- \*\*`([a-z-]+)`\*\*", text, re.M)
    assert sorted(documented) == sorted(KEPT_DIFFERENCES)


def test_the_readme_links_the_migration_guide():
    assert "(docs/migrating.md)" in (ROOT / "README.md").read_text()
