"""How the conformance suite builds a store: a target and option values, JSON-serializable
so that a child process (the crash test) builds the very same store."""

from __future__ import annotations

import json
from typing import Any

import attrs

from ..plugins import resolve_target
from ..store.base import Store
from .options import make_options


@attrs.frozen
class StoreFactory:
    """``target`` is ``"module:callable"`` (dots after the colon reach attributes), the
    callable takes :class:`forsun.options.Options` and returns an unopened store.
    ``values`` are option values by dest, overlaid on every installed plugin's defaults.

    Each :meth:`build` must give a store over the same data: that is how the suite tests
    reopening, and how two instances share data for ``multi_node`` tests.
    """

    target: str
    values: dict[str, Any] = attrs.field(factory=dict)

    def build(self) -> Store:
        return resolve_target(self.target)(make_options(**self.values))

    def to_json(self) -> str:
        return json.dumps({"target": self.target, "values": self.values})

    @classmethod
    def from_json(cls, text: str) -> StoreFactory:
        data = json.loads(text)
        return cls(data["target"], data["values"])
