"""Configuration options: what a plugin declares, what the service reads, and how values
are resolved: command-line flags > INI file (``--conf``) > environment variables of the
original forsun (``PORT``, ``STORE_DRIVER``, ...; see :mod:`forsun.legacy.config`) >
declared defaults.

An :class:`Option` is declared through the ``register_options`` hook. Its ``name`` is the
command-line flag without dashes (``driver-mem-store-file``), its ``dest`` the attribute
name (``driver_mem_store_file``), and ``ini`` its key in the INI ``section`` (``""`` is the
top level of the file, as in the original forsun.conf).

Every option comes from a plugin's ``register_options`` hook, the core's own included, so
``--help`` groups flags by the plugin that declared them. The INI layout is the original
forsun.conf: top-level keys, then ``[store]``, ``[action]`` and ``[extension]`` sections.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import difflib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import attrs

#: Flag prefix that INI keys of a section leave out: ``--driver-redis-host`` is
#: ``[store] redis_host``, as in the original forsun.conf.
SECTION_FLAG_PREFIX = {"store": "driver-", "action": "action-", "extension": "extension-"}

SECTIONS = ("", "store", "action", "extension")


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


@attrs.frozen(slots=True)
class Option:
    """One configuration option.

    ``type`` is ``str``, ``int``, ``float``, ``bool`` or ``list`` (a list accepts a
    repeated flag or a ``;``-separated INI value). ``choices`` restricts the value; a
    string matches a choice in any case and takes the choice's own spelling
    (``debug`` is ``DEBUG``). ``secret`` options are masked in logs and ``info``.
    """

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    section: str = attrs.field(default="", validator=attrs.validators.in_(SECTIONS))
    ini: str | None = None
    choices: tuple[Any, ...] | None = None
    secret: bool = False
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def ini_key(self) -> str:
        if self.ini is not None:
            return self.ini
        prefix = SECTION_FLAG_PREFIX.get(self.section, "")
        name = self.name[len(prefix):] if prefix and self.name.startswith(prefix) else self.name
        return name.replace("-", "_")

    def convert(self, raw: Any) -> Any:
        """Turn a flag or INI string into this option's type; ValueError names the option."""
        try:
            if self.type is list:
                if isinstance(raw, list | tuple):
                    value: Any = [str(item) for item in raw]
                else:
                    value = [part.strip() for part in str(raw).split(";") if part.strip()]
            elif self.type is bool:
                value = _parse_bool(raw)
            else:
                value = self.type(raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.flag}: {exc}") from exc
        if self.choices is not None and value not in self.choices:
            spelled = {str(choice).lower(): choice for choice in self.choices}
            if isinstance(value, str) and value.lower() in spelled:
                return spelled[value.lower()]
            choices = ", ".join(map(str, self.choices))
            raise ValueError(f"{self.flag}: {value!r} is not one of {choices}")
        return value


class Options(Mapping[str, Any]):
    """The resolved configuration: option values by ``dest`` (flags > INI file > defaults).

    Reading an undeclared option raises ``KeyError`` naming it, so a typo is not silent.
    """

    def __init__(self, declared: Iterable[Option] = (), values: Mapping[str, Any] | None = None):
        self.declared: dict[str, Option] = {opt.dest: opt for opt in declared}
        self._values = {dest: opt.default for dest, opt in self.declared.items()}
        if values:
            self._values.update(values)

    def __getitem__(self, dest: str) -> Any:
        try:
            return self._values[dest]
        except KeyError:
            raise KeyError(f"option {dest!r} is not declared by any loaded plugin") from None

    def __getattr__(self, dest: str) -> Any:
        if dest.startswith("_"):
            raise AttributeError(dest)
        try:
            return self[dest]
        except KeyError as exc:
            raise AttributeError(str(exc)) from None

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def with_values(self, **values: Any) -> Options:
        """A copy with some values replaced (used by tests and embedders)."""
        merged = dict(self._values)
        merged.update(values)
        return Options(self.declared.values(), merged)

    def public(self) -> dict[str, str]:
        """Values as strings, secrets masked: safe for logs and ``info``."""
        out = {}
        for dest, value in self._values.items():
            opt = self.declared.get(dest)
            masked = opt is not None and opt.secret and value
            out[dest] = "******" if masked else str(value)
        return out


log = logging.getLogger(__name__)

TOP_SECTION = "forsun"  # the name the top of the file is read under

#: Flags understood before plugins load (they decide which plugins load).
BOOTSTRAP_FLAGS = ("--conf", "--block-plugin")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the flag, key or file."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors (a flag without its value, ...) are a
    :class:`ConfigError`, reported in one line like every other start-up failure."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def bootstrap_parser() -> argparse.ArgumentParser:
    parser = _Parser(add_help=False)
    parser.add_argument("--conf", metavar="FILE", help="INI configuration file")
    parser.add_argument("--block-plugin", action="append", default=[], metavar="NAME",
                        help="do not load the plugin of this name (repeatable)")
    return parser


def build_parser(options_by_plugin: Mapping[str, Sequence[Option]],
                 prog: str = "forsund", description: str = "", epilog: str = "",
                 version: str = "") -> argparse.ArgumentParser:
    """An argparse parser with one group per plugin holding the options it declared;
    ``epilog`` is shown as written at the end of ``--help``; ``version``, when given, is
    what ``--version`` prints after ``prog``.

    Defaults are left unset (``SUPPRESS``) so only flags really given override the file.
    Choices are checked by :meth:`Option.convert` (in any case), not by argparse.
    """
    parser = _Parser(prog=prog, description=description, epilog=epilog,
                     parents=[bootstrap_parser()],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    if version:
        parser.add_argument("--version", action="version", version=f"{prog} {version}")
    for plugin, options in options_by_plugin.items():
        if not options:
            continue
        group = parser.add_argument_group(f"plugin {plugin}")
        for opt in options:
            kwargs: dict[str, Any] = {"dest": opt.dest, "default": argparse.SUPPRESS,
                                      "metavar": opt.metavar}
            default = "" if opt.default in (None, "", []) else f" (default: {opt.default})"
            kwargs["help"] = (opt.help + default).replace("%", "%%")
            if opt.type is bool:
                kwargs.pop("metavar")
                kwargs["action"] = argparse.BooleanOptionalAction
            elif opt.type is list:
                kwargs["action"] = "append"
            if opt.choices and kwargs.get("metavar") is None and opt.type is not bool:
                kwargs["metavar"] = "{" + ",".join(map(str, opt.choices)) + "}"
            group.add_argument(opt.flag, **kwargs)
    return parser


def read_ini(path: str | Path) -> dict[str, dict[str, str]]:
    """Sections of an original-style forsun.conf; top-level keys under ``TOP_SECTION``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--conf {path}: {exc.strerror or exc}") from exc
    parser = configparser.ConfigParser(allow_no_value=True, interpolation=None,
                                       inline_comment_prefixes=("#", ";"))
    try:
        parser.read_string(f"[{TOP_SECTION}]\n" + text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"--conf {path}: {_ini_error(exc)}") from exc
    except AttributeError:  # CPython gh-107625 (fixed in 3.13 as a ParsingError)
        raise ConfigError(f"--conf {path}: an indented line follows a key without a value "
                          f"(an indented line continues the value above it)") from None
    return {section: dict(parser.items(section)) for section in parser.sections()}


def unknown_flag_hint(flag: str, known: Iterable[str]) -> str:
    """What to say about an unknown ``flag``: the known flag it is close to (a typo), else
    :func:`install_hint`."""
    close = difflib.get_close_matches(flag, list(known), n=1, cutoff=0.8)
    if close:
        return f"did you mean {close[0]}?"
    return f"no installed plugin declares it; {install_hint(flag)}"


def _ini_error(exc: configparser.Error) -> str:
    """What is wrong in the file, in one line, with the file's own line numbers (the
    reader counts the ``[forsun]`` header put before the top-level keys)."""
    top = "the top level" if getattr(exc, "section", None) == TOP_SECTION else None
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"line {exc.lineno - 1}: {exc.option} is set twice in {top or exc.section}"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"line {exc.lineno - 1}: section [{exc.section}] appears twice"
    if isinstance(exc, configparser.ParsingError):  # its lines come as repr() strings
        return "; ".join(f"line {lineno - 1} cannot be read: {_unrepr(line).strip()!r}"
                         for lineno, line in exc.errors)
    return str(exc)


def _unrepr(text: str) -> str:
    try:
        return str(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        return text


def install_hint(flag: str) -> str:
    """A hint naming the distribution that probably declares an unknown ``flag``.

    Bundled and third-party plugins follow one naming rule: ``--driver-NAME-*`` options
    belong to ``forsun-store-NAME``, ``--action-NAME-*`` to ``forsun-action-NAME``, and
    any other ``--NAME-*`` to a ``forsun-*-NAME`` distribution.
    """
    match = re.match(r"--(driver|action)-([a-z0-9]+)", flag)
    if match:
        kind = "store" if match.group(1) == "driver" else "action"
        return f"install the distribution forsun-{kind}-{match.group(2)} that declares it"
    match = re.match(r"--([a-z0-9]+)", flag)
    name = match.group(1) if match else flag
    return (f"install the plugin that declares it "
            f"(e.g. forsun-frontend-{name} or forsun-action-{name})")


def resolve(argv: Sequence[str], options_by_plugin: Mapping[str, Sequence[Option]],
            prog: str = "forsund", description: str = "",
            environ: Mapping[str, Any] | None = None, epilog: str = "",
            version: str = "") -> Options:
    """Parse ``argv`` and the ``--conf`` file into :class:`Options`; ``environ`` holds the
    values that environment variables set, by option dest, ranked below the file.

    Unknown flags raise :class:`ConfigError` naming the close known flag or, failing
    that, the plugin to install; unknown INI keys are logged and ignored (original conf
    files list keys of every driver).
    """
    parser = build_parser(options_by_plugin, prog, description, epilog, version)
    args, unknown = parser.parse_known_args(list(argv))
    if unknown:
        flag = next((u for u in unknown if u.startswith("--")), unknown[0]).split("=", 1)[0]
        if flag.startswith("-"):
            hint = unknown_flag_hint(flag, _flags(options_by_plugin))
            raise ConfigError(f"unknown option {flag}: {hint}")
        raise ConfigError(f"unexpected argument {flag!r}")
    declared = [opt for opts in options_by_plugin.values() for opt in opts]
    values: dict[str, Any] = dict(environ or {})
    if args.conf:
        values.update(_values_from_ini(read_ini(args.conf), declared, args.conf))
    for opt in declared:
        if hasattr(args, opt.dest):
            values[opt.dest] = getattr(args, opt.dest)
    resolved = {}
    for opt in declared:
        if opt.dest in values:
            try:
                resolved[opt.dest] = opt.convert(values[opt.dest])
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
    resolved["conf"] = args.conf
    resolved["block_plugin"] = list(args.block_plugin)
    return Options(declared, resolved)


def _flags(options_by_plugin: Mapping[str, Sequence[Option]]) -> list[str]:
    """Every flag the parser of :func:`build_parser` knows."""
    flags = ["--help", "--version", *BOOTSTRAP_FLAGS]
    for opt in (opt for opts in options_by_plugin.values() for opt in opts):
        flags.append(opt.flag)
        if opt.type is bool:
            flags.append(f"--no-{opt.name}")
    return flags


def _values_from_ini(sections: dict[str, dict[str, str]], declared: Sequence[Option],
                     path: str) -> dict[str, Any]:
    by_key = {(opt.section or TOP_SECTION, opt.ini_key): opt for opt in declared}
    values: dict[str, Any] = {}
    for section, items in sections.items():
        for key, raw in items.items():
            opt = by_key.get((section, key))
            if opt is None:
                log.info("%s: [%s] %s is not an option of any loaded plugin; ignored",
                         path, section, key)
                continue
            if raw is None or (raw == "" and opt.type is not str):
                continue
            values[opt.dest] = raw
    return values
