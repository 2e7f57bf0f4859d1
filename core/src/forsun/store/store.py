"""The original forsun's store API, kept for legacy extensions (``register_store``)."""

from __future__ import annotations

from typing import Any

from .base import Store as ContractStore


class Store:
    """Base class of legacy stores (the original's method names)."""

    async def init(self) -> None:
        pass

    async def uninit(self) -> None:
        pass


def adapt_store(cls: type) -> Any:
    """A store factory for ``cls``: contract stores are used as they are."""
    if isinstance(cls, type) and issubclass(cls, ContractStore):
        return cls
    raise TypeError(f"{cls!r} is not a forsun.store.Store subclass")
