"""Parsing the redis action's ``command`` param into argument lists."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from forsun.errors import ForsunPlanError

#: Commands after which a connection sends a stream of messages instead of one reply per
#: command: pub/sub, MONITOR and replication.
STREAMING = frozenset({"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR", "SYNC", "PSYNC"})


def parse_commands(text: str) -> list[list[str]]:
    """The commands of a plan's ``command`` param (:func:`split_commands`).

    Raises :class:`ForsunPlanError` (naming ``params.command``) when a quote is not closed,
    there is no command, or a command breaks the exchange a firing relies on
    (:func:`breaks_replies`).
    """
    commands = split_commands(text)
    if not commands:
        raise ForsunPlanError.invalid("params.command", "holds no command")
    for argv in commands:
        if breaks_replies(argv):
            shown = " ".join(argv[:3] if argv[0].upper() == "CLIENT" else argv[:1])
            raise ForsunPlanError.invalid(
                "params.command", f"{shown} cannot run in a plan: a firing reads one reply per "
                                  f"command")
    return commands


def breaks_replies(argv: Sequence[str]) -> bool:
    """Whether a command breaks the one-reply-per-command exchange: it silences replies
    (``CLIENT REPLY OFF`` / ``SKIP``) or turns the connection into a stream of messages
    (:data:`STREAMING`)."""
    name = argv[0].upper()
    if name == "CLIENT":
        return len(argv) > 2 and argv[1].upper() == "REPLY" and argv[2].upper() != "ON"
    return name in STREAMING


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
