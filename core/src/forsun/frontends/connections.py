"""The open connections of a front end, and which of them are waiting on their peer and
since when: at the connection cap the one waiting longest makes room for a new connection,
and one silent for ``--idle-timeout`` is closed."""

from __future__ import annotations

import time
from typing import Generic, Protocol, TypeVar


class Closable(Protocol):
    """A connection as :class:`Connections` sees it (hashable by identity)."""

    def close(self) -> None:
        """Close the connection (and release what it holds)."""


C = TypeVar("C", bound=Closable)


class Connections(Generic[C]):
    """Connections, each waiting from :meth:`add` until :meth:`busy`, and again from each
    :meth:`wait`. The front end says which: a connection waits while it needs bytes from
    its peer to go on. Dropping a connection closes it."""

    def __init__(self) -> None:
        self.open: set[C] = set()
        #: Waiting connections and the monotonic time their wait began, oldest first.
        self._waiting: dict[C, float] = {}

    def __len__(self) -> int:
        return len(self.open)

    def add(self, connection: C) -> None:
        self.open.add(connection)
        self._waiting[connection] = time.monotonic()

    def discard(self, connection: C) -> None:
        self.open.discard(connection)
        self._waiting.pop(connection, None)

    def wait(self, connection: C) -> None:
        """``connection`` (open) waits on its peer from now."""
        waiting = self._waiting
        waiting.pop(connection, None)  # to the end of the order
        waiting[connection] = time.monotonic()

    def busy(self, connection: C) -> None:
        """``connection`` is not waiting on its peer."""
        self._waiting.pop(connection, None)

    def drop_longest_waiting(self) -> bool:
        """Drop the connection that has waited longest; False when none is waiting."""
        for connection in self._waiting:
            self._drop(connection)
            return True
        return False

    def drop_waiting_since(self, deadline: float) -> int:
        """Drop the connections waiting since before ``deadline`` (monotonic); how many."""
        dropped = 0
        while self._waiting:
            connection, since = next(iter(self._waiting.items()))
            if since > deadline:
                break
            self._drop(connection)
            dropped += 1
        return dropped

    def _drop(self, connection: C) -> None:
        self.discard(connection)
        connection.close()
