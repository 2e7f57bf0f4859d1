"""What happened to each firing: :class:`Outcome` values, which the engine reports as each
attempt ends, and :class:`History`, the node's bounded ring of recent ones
(``--history-size``)."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable
from typing import Any

import attrs

#: Default number of outcomes a node remembers.
DEFAULT_HISTORY_SIZE = 10_000


@attrs.define(slots=True)  # not frozen: built once per attempt, in a quarter of the time
class Outcome:
    """One attempt of an occurrence: due second, key, action, attempt (0 = first), wall
    ``start`` and ``duration`` in seconds, whether it succeeded or its error text, the
    node that ran it. ``final``: no further attempt follows (success, or retries
    exhausted or not asked for); ``manual``: fired by an operator (fire now, retry of a
    failure), not by the schedule. Never changed once reported."""

    due: int
    key: str
    action: str
    attempt: int
    start: float
    duration: float
    ok: bool
    error: str | None
    node: str
    final: bool = True
    manual: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``GET /v1/history``."""
        return {"due": self.due, "key": self.key, "action": self.action,
                "attempt": self.attempt, "start": self.start, "duration": self.duration,
                "ok": self.ok, "error": self.error, "node": self.node}


#: Receives each outcome, on the event loop, as the attempt ends; must be cheap.
OutcomeSink = Callable[[Outcome], None]


class History:
    """The last ``size`` outcomes of this node (0: none kept)."""

    def __init__(self, size: int = DEFAULT_HISTORY_SIZE) -> None:
        if size < 0:
            raise ValueError(f"--history-size {size}: must be 0 or more")
        self._ring: collections.deque[Outcome] = collections.deque(maxlen=size)

    def __len__(self) -> int:
        return len(self._ring)

    def add(self, outcome: Outcome) -> None:
        self._ring.append(outcome)

    def recent(self, key: str | None = None, limit: int = 50) -> list[Outcome]:
        """At most ``limit`` outcomes, newest first, of plan ``key`` (None: of all)."""
        newest = reversed(self._ring)
        if key is not None:
            newest = (outcome for outcome in newest if outcome.key == key)
        return list(itertools.islice(newest, max(0, limit)))
