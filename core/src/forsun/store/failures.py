"""The failures list (store capability ``failures``): occurrences whose action failed on
every attempt the engine made, kept so that an operator can read, retry or discard them.

:class:`Failure` is one entry, :class:`FailurePage` one page of a listing and
:class:`FailureList` the in-memory list that stores keeping everything in memory share
(the mem store journals its changes; the reference store keeps only this).
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from ..plan import Plan

#: Failures a store keeps by default (``--failures-max``); the oldest beyond are dropped.
DEFAULT_FAILURES_MAX = 10_000


def failure_id(key: str, due: int) -> str:
    """The id of the failure of occurrence ``(key, due)``: ``"DUE:KEY"``."""
    return f"{due}:{key}"


@attrs.frozen(slots=True)
class Failure:
    """Occurrence ``(key, due)`` of ``plan`` (its snapshot as claimed) failed ``attempts``
    times with ``error`` last, at wall time ``failed_at``, on ``node``."""

    key: str
    due: int
    action: str
    attempts: int
    error: str
    failed_at: float
    node: str
    plan: Plan

    @property
    def id(self) -> str:
        return failure_id(self.key, self.due)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "due": self.due, "action": self.action,
                "attempts": self.attempts, "error": self.error, "failed_at": self.failed_at,
                "node": self.node, "plan": self.plan.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Failure:
        return cls(key=data["key"], due=int(data["due"]), action=data["action"],
                   attempts=int(data["attempts"]), error=data["error"],
                   failed_at=float(data["failed_at"]), node=data["node"],
                   plan=Plan.from_dict(data["plan"]))


@attrs.frozen(slots=True)
class FailurePage:
    """``items``: one page of the failures matching a filter, newest first; ``total``: how
    many match; ``dropped``: how many the store dropped, ever, to stay within its bound."""

    total: int
    dropped: int
    items: list[Failure]

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "dropped": self.dropped,
                "items": [failure.to_dict() for failure in self.items]}


def matches(failure: Failure, prefix: str, action: str) -> bool:
    """Whether ``failure`` passes the filter of a listing (empty: any)."""
    return failure.key.startswith(prefix) and (not action or failure.action == action)


def page(newest_first: Iterable[Failure], dropped: int, *, prefix: str = "",
         action: str = "", limit: int = 100, offset: int = 0) -> FailurePage:
    """The page ``[offset, offset + limit)`` of the failures matching the filter."""
    matching = [failure for failure in newest_first if matches(failure, prefix, action)]
    return FailurePage(len(matching), dropped,
                       matching[max(0, offset):max(0, offset) + max(0, limit)])


class FailureList:
    """At most ``limit`` failures by id, in the order they were (last) added; adding
    beyond ``limit`` drops the oldest and counts them in :attr:`dropped`."""

    def __init__(self, limit: int = DEFAULT_FAILURES_MAX) -> None:
        self.limit = max(1, limit)
        self.dropped = 0
        self._items: collections.OrderedDict[str, Failure] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Failure]:
        return iter(self._items.values())

    def add(self, failure: Failure) -> None:
        """Add ``failure``, replacing (and moving to the newest place) one of its id."""
        self._items.pop(failure.id, None)
        self._items[failure.id] = failure
        while len(self._items) > self.limit:
            self._items.popitem(last=False)
            self.dropped += 1

    def get(self, ids: Iterable[str] | None) -> list[Failure]:
        """The failures of ``ids`` that exist, in that order (None: all, newest first)."""
        if ids is None:
            return list(reversed(self._items.values()))
        return [self._items[id_] for id_ in dict.fromkeys(ids) if id_ in self._items]

    def remove(self, ids: Iterable[str] | None) -> int:
        """Remove the failures of ``ids`` (None: all); how many were there."""
        if ids is None:
            removed = len(self._items)
            self._items.clear()
            return removed
        return sum(self._items.pop(id_, None) is not None for id_ in set(ids))

    def page(self, *, prefix: str = "", action: str = "", limit: int = 100,
             offset: int = 0) -> FailurePage:
        """:func:`page` of this list; without a filter, only the page is read."""
        if prefix or action:
            return page(reversed(self._items.values()), self.dropped, prefix=prefix,
                        action=action, limit=limit, offset=offset)
        start = max(0, offset)
        items = itertools.islice(reversed(self._items.values()), start,
                                 start + max(0, limit))
        return FailurePage(len(self._items), self.dropped, list(items))
