"""Configuration options: what a plugin declares and what the service reads.

An :class:`Option` is declared through the ``register_options`` hook. Its ``name`` is the
command-line flag without dashes (``driver-mem-store-file``), its ``dest`` the attribute
name (``driver_mem_store_file``), and ``ini`` its key in the INI ``section`` (``""`` is the
top level of the file, as in the original forsun.conf).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

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
    repeated flag or a ``;``-separated INI value). ``choices`` restricts the value.
    ``secret`` options are masked in logs and ``info``.
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
