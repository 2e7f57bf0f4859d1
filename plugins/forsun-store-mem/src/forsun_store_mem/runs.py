"""Sorting more byte strings than memory should hold: sorted runs spilled to temporary
files, merged back in order (what writing a snapshot from plans that arrive in any order
needs, :mod:`.migration`)."""

from __future__ import annotations

import heapq
import struct
import sys
import tempfile
from array import array
from collections.abc import Callable, Iterator
from typing import IO

#: Items held in memory before they are spilled as a sorted run (about 10 MiB of records).
RUN = 50_000
#: Items per chunk of a run file: ``<I count>``, the lengths as ``<I``, the items.
CHUNK = 1000
_COUNT = struct.Struct("<I")


class SortedRuns:
    """Byte strings added in any order, read back sorted by ``key`` (default: the items
    themselves) with memory bounded by :data:`RUN` items plus one chunk per run. Items
    with equal keys come back in the order they were added. Run files are anonymous
    temporary files in ``directory``, gone when :meth:`close` is called or the process
    exits."""

    def __init__(self, directory: str, key: Callable[[bytes], bytes] | None = None,
                 run: int = RUN) -> None:
        self.directory = directory
        self.key = key
        self.run = run
        self._buffer: list[bytes] = []
        self._files: list[IO[bytes]] = []
        #: items added so far
        self.added = 0

    def add(self, items: list[bytes]) -> None:
        self._buffer.extend(items)
        self.added += len(items)
        if len(self._buffer) >= self.run:
            self._spill()

    def _spill(self) -> None:
        self._buffer.sort(key=self.key)
        f = tempfile.TemporaryFile(dir=self.directory, prefix=".forsun-migrate-")  # noqa: SIM115
        self._files.append(f)
        items = self._buffer
        for start in range(0, len(items), CHUNK):
            chunk = items[start:start + CHUNK]
            lengths = array("I", map(len, chunk))
            if sys.byteorder == "big":
                lengths.byteswap()
            f.write(b"".join((_COUNT.pack(len(chunk)), lengths.tobytes(), *chunk)))
        self._buffer = []

    def merged(self) -> Iterator[bytes]:
        """Every item added, in order (call once, after the last :meth:`add`)."""
        self._buffer.sort(key=self.key)
        streams = [_read(f) for f in self._files]
        streams.append(iter(self._buffer))  # added last: after equal keys of the runs
        return heapq.merge(*streams, key=self.key)

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._files = []
        self._buffer = []


def _read(f: IO[bytes]) -> Iterator[bytes]:
    f.seek(0)
    while head := f.read(_COUNT.size):
        (count,) = _COUNT.unpack(head)
        lengths = array("I")
        lengths.frombytes(f.read(4 * count))
        if sys.byteorder == "big":
            lengths.byteswap()
        data = f.read(sum(lengths))
        pos = 0
        for length in lengths:
            yield data[pos:pos + length]
            pos += length
