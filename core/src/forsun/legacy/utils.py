"""The original forsun's ``forsun.utils``: its command-line splitter :func:`parse_cmd`, the
text helpers :func:`ensure_bytes` / :func:`ensure_unicode` and its type aliases, for
extensions that import them. Results are the original's, quirks included (checked against
the original by ``tests/compat``).
"""

from __future__ import annotations

from typing import Any

is_py3 = True
string_type = (str, bytes)
unicode_type = str
bytes_type = bytes
number_type = int

#: A kwargs argument of :func:`parse_cmd`: ``(name, value)``.
Argument = str | tuple[str, str]

_QUOTES = ('"', "'")
_BLANKS = ("\n", "\t", " ", "\r")


def ensure_bytes(s: Any) -> bytes:
    """``s`` as bytes: text is UTF-8 encoded, anything else goes through ``bytes()``."""
    if isinstance(s, str):
        return s.encode("utf-8")
    return bytes(s)


def ensure_unicode(s: Any) -> str:
    """``s`` as text: bytes are UTF-8 decoded, anything else goes through ``str()``."""
    if isinstance(s, bytes):
        return s.decode("utf-8")
    return str(s)


class _Splitter:
    """The state of one :func:`parse_cmd` run (the original's state machine)."""

    def __init__(self, parse_kwargs: bool) -> None:
        self.parse_kwargs = parse_kwargs
        self.cmds: list[list[Argument]] = []
        self.args: list[Argument] = []
        self.carg: list[str] = []
        self.quote: str | None = None  # the quote a string was opened with
        self.kwarg: str | None = None  # the name before an unquoted '='
        self.last: str | None = None  # the character read before

    def end_word(self) -> None:
        word = "".join(self.carg)
        self.args.append((self.kwarg, word) if self.kwarg else word)
        self.kwarg = None
        self.carg = []

    def end_command(self) -> None:
        if self.args:
            self.cmds.append(self.args)
        self.args, self.carg, self.quote, self.last = [], [], None, None

    def feed(self, c: str) -> None:
        if c in _QUOTES:
            if self.quote is None:
                self.quote = self.last = c
                return
            if self.carg:
                if self.quote == c and self.last != "\\":
                    self.end_word()
                    self.quote, self.last = None, c
                    return
                if self.quote == c:
                    self.carg.pop()  # an escaped closing quote: drop the backslash
        elif c in _BLANKS:
            if not self.carg:
                self.last = c
                return
            if self.quote is None:
                self.end_word()
                self.last = c
                return
        elif c == ";":
            if self.quote is None:
                if self.carg:
                    self.end_word()
                self.end_command()
                return
        elif c == "=" and self.parse_kwargs and self.quote is None and self.carg:
            self.kwarg = "".join(self.carg)
            self.carg = []
            self.last = c
            return
        self.carg.append(c)
        self.last = c


def parse_cmd(command: str, parse_kwargs: bool = True,
              split_cmd: bool = True) -> list[Any]:
    """Split ``command`` into commands at unquoted ``;`` and each into words at unquoted
    blanks; quotes (``'`` or ``"``) group words, ``\\`` escapes a closing quote. With
    ``parse_kwargs`` an unquoted ``name=value`` word is the tuple ``(name, value)``.

    Each command is ``(first word, (other words...))``, or its list of words when
    ``split_cmd`` is false (only the last command of the text: the original's behaviour).
    """
    splitter = _Splitter(parse_kwargs)
    for c in command:
        splitter.feed(c)
    if splitter.carg:
        splitter.end_word()
    cmds = [(args[0], tuple(args[1:])) for args in splitter.cmds]
    if splitter.args:
        last = splitter.args
        cmds.append((last[0], tuple(last[1:])) if split_cmd else last)
    return cmds
