"""The original forsun's ``forsun.config``: ``get(KEY, default)``, ``set(KEY, value)`` and
``update(mapping)`` with its upper-case keys, over forsund's live settings, and the
environment variables its config read.

Each key of the original names an option by the rule its INI reader used: ``STORE_X`` is
``x`` in ``[store]``, ``ACTION_X`` is ``x`` in ``[action]``, ``EXTENSION_PATH`` and
``EXTENSIONS`` are ``path`` and ``extensions`` in ``[extension]``, any other key ``x`` at
the top of the file. Every option is declared with the original's INI key, so
``config.get("ACTION_HTTP_MAX_CLIENTS")`` is the value of ``--action-http-max-clients``
while forsund runs (:func:`bind`), whichever of flag, INI file, environment or default set
it. A key no loaded plugin declares answers the original's default (or its environment
variable).

``set`` and ``update`` change what ``get`` answers in this process, as in the original,
but not forsund's running settings (which are fixed at start-up): an extension reading a
value back sees what it set.

The environment variables are the original's keys (``PORT``, ``STORE_DRIVER``,
``LOG_FILE``, ...; ``EXTENSIONS`` was never read from the environment). They rank as the
original ranked them: above the defaults, below the INI file and the command line
(:func:`environment_values`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ..options import ConfigError, Option, Options

#: The original's settings and their defaults (its ``DEFAULT_CONFIG``).
DEFAULT_CONFIG: dict[str, Any] = {
    "LOG_FILE": "/var/log/forsun.log",
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "%(asctime)s %(process)d %(levelname)s %(message)s",
    "LOG_ROTATE": "",
    "LOG_BACKUP_COUNT": 64,
    "BIND_ADDRESS": "127.0.0.1",
    "PORT": 6458,
    "HTTP_BIND": "",
    "SERVER_MODE": "TIMER",
    "STORE_DRIVER": "mem",
    "STORE_STATUS_EXPRIED": 0,
    "STORE_MEM_STORE_FILE": "",
    "STORE_MEM_TIME_RATE": 1,
    "STORE_REDIS_HOST": "127.0.0.1",
    "STORE_REDIS_PORT": 6379,
    "STORE_REDIS_DB": 0,
    "STORE_REDIS_PASSWORD": "",
    "STORE_REDIS_PREFIX": "forsun",
    "STORE_REDIS_SERVER_ID": 0,
    "STORE_REDIS_MAX_CONNECTIONS": 8,
    "STORE_REDIS_CLIENT_TIMEOUT": 7200,
    "STORE_REDIS_BULK_SIZE": 5,
    "STORE_REDIS_CURRENTTIME_EXPRIED": 2592000,
    "STORE_REDIS_PLAN_EXPRIED": 604800,
    "STORE_REDIS_PLANTIME_EXPRIED": 604800,
    "ACTION_RETRY_DELAY_SECONDS": 3,
    "ACTION_RETRY_DELAY_RATE": 1,
    "ACTION_RETRY_MAX_COUNT": 3,
    "ACTION_POLL_IDLE_SECONDS": 120,
    "ACTION_SHELL_CWD": "/tmp",
    "ACTION_HTTP_MAX_CLIENTS": 64,
    "ACTION_HTTP_CONNECT_TIMEOUT": 5,
    "ACTION_HTTP_REQUEST_TIMEOUT": 120,
    "ACTION_HTTP_USER_AGENT": "",
    "ACTION_REDIS_MAX_CONNECTIONS": 8,
    "ACTION_REDIS_CLIENT_TIMEOUT": 7200,
    "ACTION_REDIS_BULK_SIZE": 5,
    "ACTION_THRIFT_MAX_CONNECTIONS": 64,
    "ACTION_MYSQL_USER": "root",
    "ACTION_MYSQL_PASSWD": "",
    "ACTION_MYSQL_MAX_CONNECTIONS": 8,
    "ACTION_MYSQL_WAIT_CONNECTION_TIMEOUT": 7200,
    "ACTION_MYSQL_IDLE_SECONDS": 120,
    "EXTENSION_PATH": "",
    "EXTENSIONS": [],
}

#: Keys the original never read from the environment.
NOT_FROM_ENVIRONMENT = frozenset({"EXTENSIONS"})

_options: Options | None = None
_overrides: dict[str, Any] = {}


def ini_location(key: str) -> tuple[str, str]:
    """``(section, INI key)`` of an original key (``""`` is the top of the file)."""
    if key.startswith("STORE_"):
        return "store", key[len("STORE_"):].lower()
    if key.startswith("ACTION_"):
        return "action", key[len("ACTION_"):].lower()
    if key == "EXTENSIONS":
        return "extension", "extensions"
    if key.startswith("EXTENSION_"):
        return "extension", key[len("EXTENSION_"):].lower()
    return "", key.lower()


def option_for(key: str, declared: Iterable[Option]) -> Option | None:
    """The declared option an original key names, if any."""
    location = ini_location(key)
    return next((opt for opt in declared if (opt.section, opt.ini_key) == location), None)


def _environment_default(key: str, default: Any) -> Any:
    """The original's default of ``key``, or its environment variable converted as the
    original converted it (an integer default wants an integer; otherwise ignored)."""
    raw = os.environ.get(key)
    if raw is None or key in NOT_FROM_ENVIRONMENT:
        return default
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            return default
    return raw


@attrs.frozen
class Environment:
    """What the original's environment variables set: ``values`` by option dest, the
    variables ``applied`` and those set that no declared option matches (``unmatched``)."""

    values: dict[str, Any]
    applied: list[str]
    unmatched: list[str]


def environment_values(declared: Iterable[Option],
                       environ: Mapping[str, str] | None = None) -> Environment:
    """The options that the original's environment variables set (see
    :class:`Environment`). Raises :class:`ConfigError` naming the variable when its value
    does not fit the option."""
    environ = os.environ if environ is None else environ
    declared = list(declared)
    found = Environment({}, [], [])
    for key in DEFAULT_CONFIG:
        raw = environ.get(key)
        if raw is None or key in NOT_FROM_ENVIRONMENT:
            continue
        opt = option_for(key, declared)
        if opt is None:
            found.unmatched.append(key)
            continue
        try:
            found.values[opt.dest] = opt.convert(raw)
        except ValueError as exc:
            raise ConfigError(f"environment variable {key}={raw!r} (the original forsun's "
                              f"setting of {opt.flag}): {exc}") from None
        found.applied.append(key)
    return found


def bind(options: Options | None) -> None:
    """Answer ``get`` from ``options`` (forsund's running settings); None unbinds."""
    global _options
    _options = options


def get(name: str, default: Any = None) -> Any:
    """The value of the original's setting ``name`` (see the module docstring)."""
    if name in _overrides:
        return _overrides[name]
    if _options is not None:
        opt = option_for(name, _options.declared.values())
        if opt is not None:
            return _options[opt.dest]
    if name in DEFAULT_CONFIG:
        return _environment_default(name, DEFAULT_CONFIG[name])
    return default


def set(name: str, value: Any) -> Any:
    """Set ``name`` (a known setting, as in the original: KeyError otherwise) for ``get``;
    returns its previous value."""
    if name not in DEFAULT_CONFIG and name not in _overrides:
        raise KeyError(name)
    old = get(name)
    _overrides[name] = value
    return old


def update(config: Mapping[str, Any]) -> dict[str, Any]:
    """Set several settings (any name) for ``get``; returns every setting's value."""
    _overrides.update(config)
    return {name: get(name) for name in {**DEFAULT_CONFIG, **_overrides}}
