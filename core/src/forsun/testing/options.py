"""Building :class:`Options` in tests without a command line."""

from __future__ import annotations

from typing import Any

from ..options import Options
from ..plugins import collect_options, get_plugin_manager


def make_options(**values: Any) -> Options:
    """Options declared by every installed plugin, at their defaults, overlaid by ``values``
    (by dest, already typed)."""
    declared = [opt for opts in collect_options(get_plugin_manager()).values() for opt in opts]
    return Options(declared, values)
