"""``forsund sample-conf``: an INI file listing every option the loaded plugins declare,
each under its section with its flag, help and default, the setting commented out.

The layout is the one :func:`forsun.options.read_ini` reads: top-level keys first (no
section header, as in the original forsun.conf), then ``[store]``, ``[action]`` and
``[extension]``. A help line starts with ``# ``, a setting with ``#`` and its key, so
removing the ``#`` of a setting sets it to its default.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from .options import SECTIONS, Option

WIDTH = 88

HEADER = """\
# forsund configuration, written by `forsund sample-conf` from the options of the plugins
# installed with it. Start forsund with `forsund --conf FILE`. Every option is shown with
# its default and commented out: remove the '#' before a key to set it. Flags on the
# command line win over this file, which wins over the original forsun's environment
# variables (PORT, STORE_DRIVER, ...).
"""


def ini_value(value: Any) -> str:
    """``value`` as the INI file writes it (read back by :meth:`Option.convert`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "; ".join(map(str, value))
    return str(value)


def render(options_by_plugin: Mapping[str, Sequence[Option]]) -> str:
    """The sample INI file of these options, by the plugin that declared them."""
    by_section: dict[str, list[tuple[str, Option]]] = {section: [] for section in SECTIONS}
    for plugin, options in options_by_plugin.items():
        for opt in options:
            by_section[opt.section].append((plugin, opt))
    parts = [HEADER]
    for section, entries in by_section.items():
        if not entries:
            continue
        parts.append(f"[{section}]\n" if section else
                     "# Top-level keys (before any section, as in the original forsun.conf)\n")
        parts.extend(_entry(plugin, opt) for plugin, opt in entries)
    return "\n".join(parts)


def _entry(plugin: str, opt: Option) -> str:
    flag = f"{opt.flag} {opt.metavar}" if opt.metavar and opt.type is not bool else opt.flag
    about = f"{flag} (plugin {plugin})"
    if opt.help:
        about += f": {opt.help}"
    if opt.choices:
        about += f"; one of {', '.join(map(str, opt.choices))}"
    if opt.type is list:
        about += "; several values are separated by ';'"
    lines = textwrap.wrap(about, WIDTH - 2, break_on_hyphens=False)
    setting = f"#{opt.ini_key} = {ini_value(opt.default)}".rstrip()
    return "".join(f"# {line}\n" for line in lines) + setting + "\n"
