"""The original forsund's ``--demon`` / ``--nodemon`` flags, as its argparse read them.

Each took an optional value converted with ``bool()``: ``--demon``, ``--demon 1`` and
``--demon 0`` all mean yes (any non-empty text is true), ``--demon=`` means no; and
``--nodemon`` won over ``--demon`` whatever their order. :func:`daemon_flags` rewrites them
as forsund's ``--demon`` / ``--no-demon``.
"""

from __future__ import annotations

from collections.abc import Sequence

_FLAGS = ("--demon", "--nodemon")


def daemon_flags(argv: Sequence[str]) -> list[str]:
    """``argv`` with the original's ``--demon [VALUE]`` / ``--nodemon [VALUE]`` rewritten
    (see the module docstring); other arguments are kept in order."""
    out: list[str] = []
    nodemon = False
    words = list(argv)
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        flag, equals, value = word.partition("=")
        if flag not in _FLAGS:
            out.append(word)
            continue
        if not equals:
            value = "x"  # the flag alone: its const, True
            if index < len(words) and not words[index].startswith("-"):
                value = words[index]
                index += 1
        if flag == "--nodemon":
            nodemon = nodemon or bool(value)
        else:
            out.append("--demon" if value else "--no-demon")
    if nodemon:
        out.append("--no-demon")
    return out
