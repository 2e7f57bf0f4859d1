"""A small pool of asyncio connections to one server, for actions that keep connections."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, Protocol, TypeVar


class Connection(Protocol):
    @property
    def stale(self) -> bool: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=Connection)


class ConnectionPool(Generic[C]):
    """At most ``size`` connections made by ``connect()``, lent to one task at a time.

    Idle connections are reused last-in first-out; one the server has closed meanwhile
    (``stale``) is dropped. A connection whose work raised or was cancelled is closed, not
    returned: its protocol state is unknown. After :meth:`close`, returned connections close.
    """

    def __init__(self, connect: Callable[[], Awaitable[C]], size: int) -> None:
        self._connect = connect
        self._slots = asyncio.Semaphore(size)
        self._idle: list[C] = []
        self._closed = False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[C]:
        async with self._slots:
            conn = self._take_idle() or await self._connect()
            try:
                yield conn
            except BaseException:
                conn.close()
                raise
            if self._closed:
                conn.close()
            else:
                self._idle.append(conn)

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take_idle(self) -> C | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.stale:
                return conn
            conn.close()
        return None
