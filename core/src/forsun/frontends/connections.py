"""The open connections of a front end served by one task each, and which of them are
waiting on their peer and since when: at the connection cap the one waiting longest makes
room for a new connection, and one silent for ``--idle-timeout`` is closed."""

from __future__ import annotations

import asyncio
import time


class Connections:
    """Tasks serving connections. A task counts as waiting from :meth:`add` until its
    first read returns, and then again while a read through :meth:`watch` is pending.
    Dropping a task cancels it (its own cleanup closes the connection; a task dropped
    before it ran must have it closed by whoever added it)."""

    def __init__(self) -> None:
        self.open: set[asyncio.Task[None]] = set()
        #: Waiting tasks and the monotonic time their wait began, oldest first.
        self._waiting: dict[asyncio.Task[None], float] = {}

    def __len__(self) -> int:
        return len(self.open)

    def add(self, task: asyncio.Task[None]) -> None:
        self.open.add(task)
        self._waiting[task] = time.monotonic()

    def discard(self, task: asyncio.Task[None]) -> None:
        self.open.discard(task)
        self._waiting.pop(task, None)

    def watch(self, task: asyncio.Task[None], stream: asyncio.StreamReader) -> WatchedStream:
        """``stream`` read on behalf of ``task``."""
        return WatchedStream(stream, task, self._waiting)

    def drop_longest_waiting(self) -> bool:
        """Drop the task that has waited longest; False when none is waiting."""
        for task in self._waiting:
            self._drop(task)
            return True
        return False

    def drop_waiting_since(self, deadline: float) -> int:
        """Drop the tasks waiting since before ``deadline`` (monotonic); how many."""
        dropped = 0
        while self._waiting:
            task, since = next(iter(self._waiting.items()))
            if since > deadline:
                break
            self._drop(task)
            dropped += 1
        return dropped

    def _drop(self, task: asyncio.Task[None]) -> None:
        self.discard(task)
        task.cancel()


class WatchedStream:
    """A stream whose reads mark their task as waiting (see :class:`Connections`)."""

    __slots__ = ("_stream", "_task", "_waiting")

    def __init__(self, stream: asyncio.StreamReader, task: asyncio.Task[None],
                 waiting: dict[asyncio.Task[None], float]) -> None:
        self._stream = stream
        self._task = task
        self._waiting = waiting

    async def read(self, n: int = -1) -> bytes:
        self._waiting[self._task] = time.monotonic()  # a new entry, except on the first read
        try:
            return await self._stream.read(n)
        finally:
            self._waiting.pop(self._task, None)
