"""The ``set`` line: one plan written the way the ``forsun`` CLI and crontab bodies write it.

::

    [set] KEY S M H D MON W ACTION ['PARAMS']

Words are split and unquoted as a POSIX shell does (:mod:`shlex`), with two additions the
original forsun's examples rely on: inside single quotes ``\\'`` and ``\\\\`` are escapes too
(``'url=\\'http://a/\\''``), and a quote left open runs to the end of the line.

- The leading word ``set`` is optional: a first word ``set`` is always the command word (a
  plan keyed ``set`` is written ``set set ...``).
- Fields S M H D MON W (second, minute, hour, day, month, week): ``*`` is "any" (-1), a number
  is a fixed value, ``*/N`` is N units of that field in a delay plan and ``*/N/COUNT`` also
  sets how often it fires (default 1; 0 = forever). One ``*/`` field makes the whole plan a
  delay plan (``is_time_out``); its other fields are then ``*`` or a number <= 0, and are 0
  in the plan, as the original's crontab parser made them. Counts written on several fields
  must agree.
- ACTION ``sh`` and ``bash`` mean ``shell``.
- PARAMS is ``k=v;k2='quoted v'`` (see :func:`parse_params`); it may be left out. For shell a
  bare string (``'ls -la'``) is the ``cmd``, for http the ``url``.

Errors are :class:`~forsun.errors.ForsunPlanError`: 1007 naming the missing part (key,
second, ..., action), 1004 naming the malformed field. Ranges are checked by the service.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterator, Mapping

from .errors import ErrorCode, ForsunPlanError
from .plan import INT16, SCHEDULE_FIELDS, Plan

USAGE = "set KEY S M H D MON W ACTION 'PARAMS'"
#: Words of a set line after the optional ``set``, in order (PARAMS may be left out).
PARTS = ("key", *SCHEDULE_FIELDS, "action", "params")
#: Action names that are spellings of another action.
ACTION_ALIASES = {"sh": "shell", "bash": "shell"}
#: The param a bare PARAMS string stands for, by action.
BARE_PARAM = {"shell": "cmd", "http": "url"}

#: A schedule field; numbers are bounded because Python refuses very long digit strings.
_FIELD = re.compile(
    r"(?P<any>\*)|(?P<fixed>[-+]?\d{1,30})|\*/(?P<units>\d{1,30})(?:/(?P<count>\d{1,30}))?")
_QUOTES = "'\""
#: Words :func:`quote` leaves unquoted (no whitespace, quotes, ``=``, ``;`` or ``#``).
_SAFE = re.compile(r"[\w@%+:,./-]+", re.ASCII)
_SHLEX_WHITESPACE = " \t\r\n"
#: An unquoted param name (``cmd``, ``header_X-Token``); anything else must be quoted.
_NAME = re.compile(r"[\w.-]+")


def split_words(line: str) -> list[str]:
    """The words of ``line`` (shell quoting; see the module docstring). 1004 if it ends
    in a lone backslash."""
    words = _split_words_fast(line)
    return words if words is not None else _shell_words(line)


def _split_words_fast(line: str) -> list[str] | None:
    """The fast path of :func:`split_words`, by str methods: the words of a line without
    backslashes whose quotes, if any, are one pair of ``'`` or ``"`` around its last word
    (``... http 'url=...'``); None for any other line. It is 20 times faster than
    :mod:`shlex`: without it crontab bodies are created 4 times slower (bench create,
    crontab ``?reply=keys``: 12,800 instead of 60,600 plans/s)."""
    if "\\" in line:
        return None
    quote = "'" if "'" in line else '"'
    quotes = line.count(quote)
    if quotes == 0:
        head, last = line, None
    elif quotes == 2 and ("'" if quote == '"' else '"') not in line:
        start, end = line.index(quote), line.rindex(quote)
        if ((start and line[start - 1] not in _SHLEX_WHITESPACE)
                or line[end + 1:].strip(_SHLEX_WHITESPACE)):
            return None  # the quoted part is glued to other text
        head, last = line[:start], line[start + 1:end]
    else:
        return None
    words = head.split()
    # str.split() also splits at whitespace shlex keeps inside words (\x0b, \xa0, ...):
    # only accept a head whose separators were all shlex whitespace.
    if sum(map(len, words)) + sum(map(head.count, _SHLEX_WHITESPACE)) != len(head):
        return None
    if last is not None:
        words.append(last)
    return words


def _shell_words(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escapedquotes = _QUOTES
    words: list[str] = []
    try:
        while (word := lexer.get_token()) is not None:
            words.append(word)
    except ValueError as exc:
        if lexer.state not in _QUOTES:
            raise ForsunPlanError(ErrorCode.STORE_FAILED,
                                  f"{line!r}: {exc} (a lone backslash at the end)") from None
        words.append(lexer.token)  # an unterminated quote runs to the end, as in the original
    return words


def parse_set_line(line: str) -> Plan:
    """The plan a set line describes (not yet validated by the service: its key may be
    empty and its fields out of range)."""
    words = split_words(line)
    if words and words[0] == "set":
        del words[0]
    return plan_from_words(words)


def plan_from_words(words: list[str]) -> Plan:
    """The plan of a set line already split into words, without the ``set`` word."""
    if len(words) < len(PARTS) - 1:
        missing = PARTS[len(words)]
        raise ForsunPlanError(ErrorCode.MISSING_ARGUMENT,
                              f"{missing} is required (usage: {USAGE})")
    if len(words) > len(PARTS):
        extra = " ".join(words[len(PARTS):])
        raise ForsunPlanError.invalid(
            "params", f"unexpected words after PARAMS: {extra!r} (quote the whole PARAMS)")
    key, *fields, action = words[:len(PARTS) - 1]
    action = ACTION_ALIASES.get(action, action)
    if not action:
        raise ForsunPlanError(ErrorCode.MISSING_ARGUMENT, "action is required")
    values, is_time_out, count = _schedule(tuple(fields))
    params_text = words[len(PARTS) - 1] if len(words) == len(PARTS) else ""
    params = parse_params(params_text, BARE_PARAM.get(action))
    return Plan(key, *values, is_time_out, count, action=action, params=params)


@functools.lru_cache(maxsize=1024)
def _schedule(words: tuple[str, ...]) -> tuple[tuple[int, ...], bool, int]:
    """:func:`_parse_fields` of six schedule words, cached: the lines of a crontab body
    usually share their schedule."""
    values, is_time_out, count = _parse_fields(list(words))
    return tuple(values[name] for name in SCHEDULE_FIELDS), is_time_out, count


def parse_crontab(text: str) -> Iterator[tuple[int, Plan]]:
    """``(line number, plan)`` of each line of a crontab body, parsed as it is read (a body
    of 16 MiB is a second of work: its reader gives the event loop turns in between): one
    set line per line (``set`` optional); blank lines and lines starting with ``#`` are
    skipped. The first bad line raises, its number in the message: ``line 3: second: ...``."""
    start, number = 0, 0
    while start <= len(text):
        stop = text.find("\n", start)
        if stop < 0:
            stop = len(text)
        line, start = text[start:stop], stop + 1
        number += 1
        head = line.lstrip()
        if not head or head[0] == "#":
            continue
        try:
            plan = parse_set_line(line)
        except ForsunPlanError as exc:
            raise ForsunPlanError(exc.code, f"line {number}: {exc.message}") from None
        yield number, plan


def _parse_fields(words: list[str]) -> tuple[dict[str, int], bool, int]:
    """``(values by field name, is_time_out, count)`` of the six schedule words."""
    matches = {}
    for name, word in zip(SCHEDULE_FIELDS, words, strict=True):
        match = _FIELD.fullmatch(word)
        if match is None:
            raise ForsunPlanError.invalid(
                name, f"{word!r} is not *, a number, */N or */N/COUNT")
        matches[name] = match
    is_time_out = any(m["units"] is not None for m in matches.values())
    values: dict[str, int] = {}
    count: int | None = None
    for name, match in matches.items():
        if match["any"]:
            value = 0 if is_time_out else -1
        elif match["fixed"] is not None:
            value = int(match["fixed"])
            if is_time_out and value > 0:
                raise ForsunPlanError.invalid(
                    name, f"fixed value {value} in a delay plan (write */{value} for an "
                          f"interval, * for none)")
            if is_time_out:
                value = 0
        else:
            value = int(match["units"])
            if match["count"] is not None:
                given = int(match["count"])
                if count is not None and given != count:
                    raise ForsunPlanError.invalid(
                        name, f"count {given} differs from count {count} of an earlier field")
                count = given
        _check_int16(name, value)
        values[name] = value
    if count is not None:
        _check_int16("count", count)
    return values, is_time_out, (count if count is not None else 1) if is_time_out else 0


def _check_int16(name: str, value: int) -> None:
    low, high = INT16
    if not low <= value <= high:
        raise ForsunPlanError.invalid(name, f"{value} is outside [{low}, {high}]")


# -- PARAMS ------------------------------------------------------------------------------


def parse_params(text: str, bare_param: str | None = None) -> dict[str, str]:
    """Params written ``k=v;k2='quoted v'``.

    Items are separated by ``;`` outside quotes; each is split at its first ``=`` outside
    quotes. A name or value that starts with a quote is unquoted (shell rules, it must be one
    quoted word); otherwise it is taken as written, surrounding whitespace removed
    (``cmd=echo 'a b'`` keeps its quotes). Empty items are skipped; a later name wins.

    A text whose first item is not ``NAME=...`` (NAME quoted, or letters, digits, ``_``, ``.``
    and ``-``) is a *bare string*: it becomes ``{bare_param: text}``, or 1004 when
    ``bare_param`` is None.
    """
    quoted = "'" in text or '"' in text
    params: dict[str, str] = {}
    for item in split_quoted(text, ";") if quoted else text.split(";"):
        name, equals, value = _partition_quoted(item) if quoted else item.partition("=")
        name = name.strip()
        if equals and name and (params or name[0] in _QUOTES or _NAME.fullmatch(name)):
            if name[0] in _QUOTES:
                name = _unquote(name, "params")
                if not name:
                    raise ForsunPlanError.invalid("params",
                                                  f"item {item.strip()!r} has an empty name")
            value = value.strip()
            params[name] = (_unquote(value, f"params.{name}") if value and value[0] in _QUOTES
                            else value)
        elif not item.strip():
            continue
        elif params:
            problem = "has an empty name" if equals else "is not k=v"
            raise ForsunPlanError.invalid("params", f"item {item.strip()!r} {problem}")
        elif bare_param is None:
            raise ForsunPlanError.invalid(
                "params", f"{text.strip()!r} is not k=v;k2='v 2' (a bare string is only "
                          f"accepted for {', '.join(sorted(BARE_PARAM))})")
        else:
            return {bare_param: text.strip()}
    return params


def _unquote(text: str, field: str) -> str:
    """A quoted ``text`` as the one word it quotes (1004 naming ``field`` otherwise)."""
    words = split_words(text)
    if len(words) != 1:
        raise ForsunPlanError.invalid(field, f"{text!r}: quote the whole value")
    return words[0]


def _partition_quoted(item: str) -> tuple[str, str, str]:
    """``item.partition("=")`` at the first ``=`` outside quotes."""
    name, *rest = split_quoted(item, "=", maxsplit=1)
    return (name, "=", rest[0]) if rest else (item, "", "")


def split_quoted(text: str, sep: str, maxsplit: int = -1) -> Iterator[str]:
    """``text`` split at ``sep`` characters outside quotes (quotes kept); inside quotes a
    backslash escapes the next character, as in :func:`split_words`."""
    start = 0
    quote = ""
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quote:
            if char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in _QUOTES:
            quote = char
        elif char == sep and maxsplit != 0:
            yield text[start:index]
            start = index + 1
            maxsplit -= 1
    yield text[start:]


# -- formatting ----------------------------------------------------------------------------


def quote(text: str) -> str:
    """``text`` as one word that :func:`split_words` and :func:`parse_params` read back."""
    return text if _SAFE.fullmatch(text) else _quoted(text)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def format_params(params: Mapping[str, str]) -> str:
    """``params`` written ``k=v;k2='quoted v'`` (inverse of :func:`parse_params`)."""
    return ";".join(f"{name if _NAME.fullmatch(name) else _quoted(name)}={quote(value)}"
                    for name, value in params.items())


def format_fields(plan: Plan) -> list[str]:
    """The six schedule words of ``plan``; a delay plan carries its count on its first
    non-zero field (an all-zero interval is written ``*/0/COUNT`` on the second)."""
    values = [getattr(plan, name) for name in SCHEDULE_FIELDS]
    if not plan.is_time_out:
        return ["*" if value == -1 else str(value) for value in values]
    words = [f"*/{value}" if value > 0 else "*" for value in values]
    first = next((i for i, value in enumerate(values) if value > 0), None)
    if first is None:
        words[0], first = "*/0", 0
    words[first] += f"/{plan.count}"
    return words


def format_set_line(plan: Plan) -> str:
    """``plan`` as a set line that :func:`parse_set_line` reads back to an equivalent plan."""
    words = ["set", quote(plan.key), *format_fields(plan), quote(plan.action),
             quote(format_params(plan.params))]
    return " ".join(words)
