"""The front-end contract: a server started by forsund that talks to clients."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service import Service


class Frontend(abc.ABC):
    """Built with ``factory(service)``; reads its options from ``service.options``.

    Front ends call only the :class:`forsun.service.Service` API (create, get, remove,
    keys, plans_at, info, ...), never the store.
    """

    def __init__(self, service: Service) -> None:
        self.service = service

    @property
    def enabled(self) -> bool:
        """False when the options leave this front end off; then start() is not called."""
        return True

    @property
    def address(self) -> str:
        """``host:port`` it listens on once started (shown by ``info``)."""
        return ""

    def info(self) -> dict[str, str]:
        """Entries this front end adds to ``info()`` (e.g. ``bind_port``)."""
        return {}

    @abc.abstractmethod
    async def start(self) -> None:
        """Start listening; return once requests are accepted."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop accepting, finish or drop open requests, and return."""
