"""Building :class:`Options` in tests without a command line."""

from __future__ import annotations

import functools
from typing import Any

from ..options import Option, Options
from ..plugins import collect_options, get_plugin_manager


@functools.cache
def declared_options() -> tuple[Option, ...]:
    """Every option the installed plugins declare (loaded once per process: entry points
    do not change while tests run)."""
    return tuple(opt for opts in collect_options(get_plugin_manager()).values() for opt in opts)


def make_options(**values: Any) -> Options:
    """Options declared by every installed plugin, at their defaults, overlaid by ``values``
    (by dest, already typed)."""
    return Options(declared_options(), values)
