"""Request deadlines sharing one timer per :data:`RESOLUTION` of time.

``asyncio.timeout`` arms and cancels a timer handle per call, in the event loop's heap:
about a fifth of the direct path's CPU time when 1 700 requests leave at one second
boundary (bench/README.md, "Findings"). :class:`Deadlines` puts the awaits whose deadline
falls in the same :data:`RESOLUTION`-wide bucket under one timer handle, so a deadline is
enforced up to :data:`RESOLUTION` late, never early.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

#: Seconds: the width of a bucket of deadlines, and how late one may be enforced.
RESOLUTION = 0.01


class _Entry:
    __slots__ = ("expired", "task")

    def __init__(self, task: asyncio.Task[object]) -> None:
        self.task = task
        self.expired = False


class Deadlines:
    """Deadlines of awaits on one event loop."""

    def __init__(self) -> None:
        self._buckets: dict[int, set[_Entry]] = {}

    async def within(self, seconds: float, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` in the current task; TimeoutError (as ``asyncio.timeout``
        raises it) if it has not finished ``seconds`` (up to :data:`RESOLUTION` more)
        from now. A cancellation from elsewhere propagates as usual."""
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        bucket_id = math.ceil((loop.time() + seconds) / RESOLUTION)
        bucket = self._buckets.get(bucket_id)
        if bucket is None:
            bucket = self._buckets[bucket_id] = set()
            loop.call_at(bucket_id * RESOLUTION, self._expire, bucket_id)
        entry = _Entry(task)
        cancelling = task.cancelling()
        bucket.add(entry)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if entry.expired and task.uncancel() <= cancelling:
                raise TimeoutError from None
            raise
        finally:
            bucket.discard(entry)

    def _expire(self, bucket_id: int) -> None:
        for entry in self._buckets.pop(bucket_id, ()):
            entry.expired = True
            entry.task.cancel()
