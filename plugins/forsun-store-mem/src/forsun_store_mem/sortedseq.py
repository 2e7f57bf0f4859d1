"""A sorted sequence of ``bytes`` with copy-on-write snapshots.

The layout is sortedcontainers' ``SortedList``: a list of sorted sublists (about ``load`` to
``2 * load`` items each) and the maximum of each sublist, searched with :mod:`bisect`.
It costs about 9 bytes per item on top of the items themselves. It is written here rather
than imported because the store needs two things ``SortedList`` does not offer:
replacing an item in place (a put over an existing key keeps its position, found
with one search), and a
snapshot that shares the sublists with the live sequence until they change, so
compaction can write a consistent state while the store keeps serving.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from itertools import chain, islice


class SortedSeq:
    """Sorted ``bytes`` items (duplicates are the caller's business: the store has none)."""

    def __init__(self, load: int = 1000) -> None:
        self._load = load
        self._lists: list[list[bytes]] = []
        self._maxes: list[bytes] = []
        self._len = 0
        #: ids of sublists shared with a snapshot: copied before their first change.
        self._shared: set[int] = set()

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[bytes]:
        return chain.from_iterable(self._lists)

    def extend_sorted(self, items: list[bytes]) -> None:
        """Append ``items`` (sorted, all greater than the current items) in bulk."""
        load = self._load
        for start in range(0, len(items), load):
            sub = items[start:start + load]
            self._lists.append(sub)
            self._maxes.append(sub[-1])
        self._len += len(items)

    def first_ge(self, probe: bytes) -> bytes | None:
        """The smallest item ``>= probe``, or None."""
        i = bisect_left(self._maxes, probe)
        if i == len(self._maxes):
            return None
        sub = self._lists[i]
        return sub[bisect_left(sub, probe)]

    def iter_from(self, probe: bytes) -> Iterator[bytes]:
        """Items ``>= probe`` in order. Do not change the sequence while iterating."""
        i = bisect_left(self._maxes, probe)
        if i == len(self._maxes):
            return iter(())
        first = self._lists[i]
        head = islice(first, bisect_left(first, probe), None)
        return chain(head, chain.from_iterable(islice(self._lists, i + 1, None)))

    def add(self, item: bytes) -> None:
        if not self._maxes:
            self._lists.append([item])
            self._maxes.append(item)
        else:
            i = bisect_right(self._maxes, item)
            if i == len(self._maxes):
                i -= 1
                sub = self._own(i) if self._shared else self._lists[i]
                sub.append(item)
                self._maxes[i] = item
            else:
                sub = self._own(i) if self._shared else self._lists[i]
                insort(sub, item)
            if len(sub) > 2 * self._load:
                self._split(i)
        self._len += 1

    def upsert(self, item: bytes, prefix: bytes) -> bytes | None:
        """Put ``item`` in place of the item starting with ``prefix`` and return that one,
        or insert ``item`` and return None. At most one item may start with ``prefix``, and
        ``item`` must sort where such an item would."""
        i = bisect_left(self._maxes, prefix)
        if i < len(self._maxes):
            sub = self._lists[i]
            j = bisect_left(sub, prefix)
            old = sub[j]
            if old.startswith(prefix):
                sub = self._own(i) if self._shared else sub
                sub[j] = item
                if j == len(sub) - 1:
                    self._maxes[i] = item
                return old
            sub = self._own(i) if self._shared else sub
            sub.insert(j, item)
            self._len += 1
            if len(sub) > 2 * self._load:
                self._split(i)
            return None
        self.add(item)
        return None

    def discard(self, item: bytes) -> bool:
        """Remove ``item``; False when it is not there."""
        i = bisect_left(self._maxes, item)
        if i == len(self._maxes):
            return False
        sub = self._lists[i]
        j = bisect_left(sub, item)
        if sub[j] != item:
            return False
        sub = self._own(i)
        del sub[j]
        self._len -= 1
        if not sub:
            del self._lists[i]
            del self._maxes[i]
            return True
        self._maxes[i] = sub[-1]
        if len(sub) < self._load // 4 and len(self._lists) > 1:
            self._merge(i)
        return True

    def freeze(self) -> list[list[bytes]]:
        """The current sublists, left unchanged until :meth:`thaw` (later changes copy first)."""
        self._shared = {id(sub) for sub in self._lists}
        return list(self._lists)

    def thaw(self) -> None:
        self._shared = set()

    def _own(self, i: int) -> list[bytes]:
        """Sublist ``i``, copied first if a snapshot shares it (callers on hot paths skip
        the call while nothing is shared)."""
        sub = self._lists[i]
        if self._shared and id(sub) in self._shared:
            self._shared.discard(id(sub))
            sub = self._lists[i] = sub.copy()
        return sub

    def _split(self, i: int) -> None:
        sub = self._lists[i]
        if len(sub) > 2 * self._load:
            tail = sub[self._load:]
            del sub[self._load:]
            self._lists.insert(i + 1, tail)
            self._maxes[i] = sub[-1]
            self._maxes.insert(i + 1, tail[-1])

    def _merge(self, i: int) -> None:
        """Fold the small sublist ``i`` into a neighbour (then split it if it grew too big)."""
        left = i - 1 if i > 0 else i
        merged = self._own(left)
        merged.extend(self._lists[left + 1])
        del self._lists[left + 1]
        del self._maxes[left + 1]
        self._maxes[left] = merged[-1]
        self._split(left)

