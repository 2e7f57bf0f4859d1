"""Resolving configuration: command-line flags > INI file (``--conf``) > declared defaults.

Every option comes from a plugin's ``register_options`` hook, the core's own included, so
``--help`` groups flags by the plugin that declared them. The INI layout is the original
forsun.conf: top-level keys, then ``[store]``, ``[action]`` and ``[extension]`` sections.
"""

from __future__ import annotations

import argparse
import configparser
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .options import Option, Options

log = logging.getLogger(__name__)

TOP_SECTION = "forsun"  # the name the top of the file is read under

#: Flags understood before plugins load (they decide which plugins load).
BOOTSTRAP_FLAGS = ("--conf", "--block-plugin")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the flag, key or file."""


def bootstrap_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--conf", metavar="FILE", help="INI configuration file")
    parser.add_argument("--block-plugin", action="append", default=[], metavar="NAME",
                        help="do not load the plugin of this name (repeatable)")
    return parser


def build_parser(options_by_plugin: Mapping[str, Sequence[Option]],
                 prog: str = "forsund", description: str = "") -> argparse.ArgumentParser:
    """An argparse parser with one group per plugin holding the options it declared.

    Defaults are left unset (``SUPPRESS``) so only flags really given override the file.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     parents=[bootstrap_parser()])
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
            if opt.choices:
                kwargs["choices"] = opt.choices
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
        raise ConfigError(f"--conf {path}: {exc}") from exc
    return {section: dict(parser.items(section)) for section in parser.sections()}


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
            prog: str = "forsund", description: str = "") -> Options:
    """Parse ``argv`` and the ``--conf`` file into :class:`Options`.

    Unknown flags raise :class:`ConfigError` with an install hint; unknown INI keys are
    logged and ignored (original conf files list keys of every driver).
    """
    parser = build_parser(options_by_plugin, prog, description)
    args, unknown = parser.parse_known_args(list(argv))
    if unknown:
        flag = next((u for u in unknown if u.startswith("--")), unknown[0]).split("=", 1)[0]
        if flag.startswith("-"):
            raise ConfigError(f"unknown option {flag}: no installed plugin declares it; "
                              f"{install_hint(flag)}")
        raise ConfigError(f"unexpected argument {flag!r}")
    declared = [opt for opts in options_by_plugin.values() for opt in opts]
    values: dict[str, Any] = {}
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
