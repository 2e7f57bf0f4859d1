"""Parsing the redis action's ``command`` param into argument lists."""

from __future__ import annotations

import shlex

from forsun.errors import ForsunPlanError


def split_commands(text: str) -> list[list[str]]:
    """Split ``text`` into commands at every ``;`` outside quotes, then each command into
    its arguments with POSIX shell rules (:func:`shlex.split`): ``SET k 'a b;c'; INCR n``
    is ``[["SET", "k", "a b;c"], ["INCR", "n"]]``. Empty commands are dropped.

    Raises :class:`ForsunPlanError` (naming ``params.command``) when a quote is not closed.
    """
    parts: list[str] = []
    start = 0
    quote = ""
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == ";":
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    try:
        commands = [shlex.split(part) for part in parts]
    except ValueError as exc:
        raise ForsunPlanError.invalid("params.command", f"{exc} in {text!r}") from None
    return [argv for argv in commands if argv]
