"""The snapshot file: a whole :class:`PlanTable` as of a position in the log.

Layout: a header ``<8sQQ`` (``FSNSNP01``, log generation, log offset: the snapshot holds
every mutation of that log before that offset) and blocks ``<BII`` (kind, item count,
payload length), ``<I`` crc32 of the payload, then the payload. Item blocks hold ``count``
``<I`` lengths followed by the items: records in key order (``R``), due entries in due order
(``D``), claimed keys (``C``), in-flight occurrences (``F``: ``<dH`` lease and node length,
node, record). Writing both orders lets loading append to the indexes without sorting.
The last block (``Z``) holds the counts and the checkpoint; a file without it is damaged.
Every payload is checksummed, so :func:`read` skips a damaged block and resynchronises on the
next intact one (:mod:`.resync`).

Snapshots are written to ``PATH.tmp``, fsynced and renamed over ``PATH``: a crash leaves the
previous snapshot intact.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate, pairwise
from typing import BinaryIO

import attrs

from . import record
from .log import fsync_dir
from .resync import Region, kind_pattern, next_intact
from .table import Frozen, InFlight, PlanTable

MAGIC = b"FSNSNP01"
HEADER = struct.Struct("<8sQQ")
BLOCK = struct.Struct("<BIII")
RECORDS, ENTRIES, CLAIMED, INFLIGHT, END = b"RDCFZ"
_ITEM_KINDS = frozenset(b"RDCF")
_KINDS = kind_pattern(b"RDCFZ")
_END = struct.Struct("<QQq?")
_HELD = struct.Struct("<dH")
#: Items per block. A damaged records block loses its plans, so blocks are small; at 10^6
#: plans 1000 writes faster than 64 000 and reads as fast (the sorted lists' sublist size).
BATCH = 1000

assert array("I").itemsize == 4


class SnapshotError(Exception):
    """A snapshot file that cannot be read back completely."""


def write(path: str, frozen: Frozen, generation: int, offset: int) -> int:
    """Write ``frozen`` atomically to ``path``; return the file size."""
    writer = StreamWriter(path, generation, offset)
    try:
        for batch in _batches(frozen.records):
            writer.records(batch)
        for batch in _batches(frozen.entries):
            writer.entries(batch)
        return writer.finish(frozen.claimed, frozen.inflight, frozen.checkpoint)
    except BaseException:
        writer.abort()
        raise


def _batches(lists: list[list[bytes]]) -> Iterator[list[bytes]]:
    """The items of ``lists`` in batches of :data:`BATCH` (the last one shorter)."""
    batch: list[bytes] = []
    for sub in lists:
        batch.extend(sub)
        if len(batch) >= BATCH:
            full = len(batch) - len(batch) % BATCH
            for start in range(0, full, BATCH):
                yield batch[start:start + BATCH]
            batch = batch[full:]
    if batch:
        yield batch


def _block(f: BinaryIO, kind: int, items: Sequence[bytes]) -> None:
    lengths = array("I", map(len, items))
    if sys.byteorder == "big":
        lengths.byteswap()
    payload = lengths.tobytes() + b"".join(items)
    f.write(BLOCK.pack(kind, len(items), len(payload), zlib.crc32(payload)))
    f.write(payload)


@attrs.frozen
class Loaded:
    """What :func:`read` loaded: the log position the snapshot ends at (``generation``,
    ``offset``) and ``plans``. When it is damaged (:attr:`damage`): the ``damaged`` regions
    were skipped, ``complete`` says whether its end block was read, ``expected`` is the
    number of plans its end block names (None when lost) and ``lost_keys`` the key ranges
    ``(after, before)`` (None: open) of damaged regions among the record blocks."""

    generation: int
    offset: int
    plans: int
    damaged: tuple[Region, ...] = ()
    complete: bool = True
    expected: int | None = None
    lost_keys: tuple[tuple[bytes | None, bytes | None], ...] = ()

    @property
    def damage(self) -> bool:
        """Whether anything was lost (a due index that did not match is just rebuilt)."""
        return (bool(self.damaged) or not self.complete
                or (self.expected is not None and self.plans != self.expected))


def read(path: str, table: PlanTable,
         on_progress: Callable[[int], None] | None = None) -> Loaded:
    """Load ``path`` into the empty ``table``, skipping damaged blocks.

    After damage the table is made consistent with what was kept: the due index is rebuilt
    from the plans, and without the claimed or the in-flight block no plan stays claimed
    (claimed plans become due again, so they fire again rather than never). Raises
    :class:`SnapshotError` when the file does not start with a snapshot header (nothing in
    it can be trusted).
    """
    with open(path, "rb") as f:
        head = f.read(HEADER.size)
        if len(head) < HEADER.size or head[:8] != MAGIC:
            raise SnapshotError(f"{path} is not a forsun mem store snapshot (its header at "
                                f"offset 0 is not one)")
        _, generation, offset = HEADER.unpack(head)
        size = os.fstat(f.fileno()).st_size
        loader = _Loader(table)
        if size > HEADER.size:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                loader.load(buf, size, on_progress)
    return loader.finish(generation, offset)


class _Loader:
    """Loads the intact blocks of one snapshot into a table and notes what was skipped."""

    def __init__(self, table: PlanTable) -> None:
        self.table = table
        self.claimed: list[bytes] | None = None
        self.inflight: list[InFlight] | None = None
        self.end: tuple[int, int, int, bool] | None = None
        self.damaged: list[Region] = []
        self.lost_keys: list[tuple[bytes | None, bytes | None]] = []
        self._in_records = True  # no block but records read yet
        self._last_key: bytes | None = None

    def load(self, buf: mmap.mmap, size: int, on_progress: Callable[[int], None] | None
             ) -> None:
        pos = HEADER.size
        while pos < size and self.end is None:
            stop = _block_end(buf, pos, size)
            if stop is None:
                found = next_intact(buf, pos + 1, _KINDS, 0,
                                    lambda at: _block_end(buf, at, size, resync=True) is not None)
                self._skip(Region(pos, size if found is None else found))
                if found is None:
                    return
                pos = found
                continue
            kind, count, _, _ = BLOCK.unpack_from(buf, pos)
            self._apply(kind, count, buf[pos + BLOCK.size:stop])
            pos = stop
            if on_progress is not None:
                on_progress(pos)

    def _skip(self, region: Region) -> None:
        self.damaged.append(region)
        if self._in_records:
            self.lost_keys.append((self._last_key, None))

    def _apply(self, kind: int, count: int, payload: bytes) -> None:
        if kind == END:
            self.end = _END.unpack(payload)
            return
        items = _items(payload, count)
        if kind == RECORDS:
            if items:
                if self.lost_keys and self.lost_keys[-1][1] is None:
                    self.lost_keys[-1] = (self.lost_keys[-1][0], _key(items[0]))
                self.table.load_records(items)
                self._last_key = _key(items[-1])
            return
        self._in_records = False
        if kind == ENTRIES:
            self.table.load_entries(items)
        elif kind == CLAIMED:
            self.claimed = items
        else:
            self.inflight = [_held(item) for item in items]

    def finish(self, generation: int, offset: int) -> Loaded:
        table = self.table
        expected = None if self.end is None else self.end[0]
        checkpoint = None if self.end is None or not self.end[3] else self.end[2]
        if not self.damaged and self.end is not None and self.end[:2] == (
                len(table.by_key), len(table.by_due)):
            table.restore(self.claimed or [], self.inflight or [], checkpoint)
            return Loaded(generation, offset, len(table))
        keep_claimed = self.claimed is not None and self.inflight is not None
        table.restore(self.claimed if keep_claimed else [], self.inflight or [], checkpoint)
        table.rebuild_due()
        return Loaded(generation, offset, len(table), tuple(self.damaged),
                      complete=self.end is not None, expected=expected,
                      lost_keys=tuple(self.lost_keys))


def _block_end(buf: mmap.mmap, pos: int, size: int, *, resync: bool = False) -> int | None:
    """Where the block at ``pos`` ends if it is intact: its payload's checksum matches and
    its counts agree with its length. Resynchronising, an empty block is not taken (its
    checksum is 0, too easily found in data, and it holds nothing to keep)."""
    if pos + BLOCK.size > size:
        return None
    kind, count, length, crc = BLOCK.unpack_from(buf, pos)
    stop = pos + BLOCK.size + length
    if stop > size or (resync and length == 0):
        return None
    payload = memoryview(buf)[pos + BLOCK.size:stop]
    if zlib.crc32(payload) != crc:
        return None
    if kind == END:
        return stop if count == 0 and length == _END.size else None
    if kind not in _ITEM_KINDS or 4 * count > length:
        return None
    return stop if 4 * count + sum(_lengths(payload, count)) == length else None


def _key(rec: bytes) -> bytes:
    return rec[:record.key_length(rec)]


def _lengths(payload: bytes | memoryview, count: int) -> array[int]:
    lengths = array("I")
    lengths.frombytes(payload[:4 * count])
    if sys.byteorder == "big":
        lengths.byteswap()
    return lengths


def _items(payload: bytes, count: int) -> list[bytes]:
    return [payload[a:b]
            for a, b in pairwise(accumulate(_lengths(payload, count), initial=4 * count))]


def _held(item: bytes) -> InFlight:
    lease_until, node_len = _HELD.unpack_from(item)
    start = _HELD.size
    return InFlight(record=item[start + node_len:],
                    node=item[start:start + node_len].decode("utf-8"), lease_until=lease_until)


def read_header(path: str) -> tuple[int, int]:
    """``(generation, offset)`` of the snapshot ``path``; :class:`SnapshotError` when its
    header is not one."""
    with open(path, "rb") as f:
        head = f.read(HEADER.size)
    if len(head) < HEADER.size or head[:8] != MAGIC:
        raise SnapshotError(f"{path} is not a forsun mem store snapshot (its header at "
                            f"offset 0 is not one)")
    return HEADER.unpack(head)[1:]


def iter_records(path: str) -> Iterator[list[bytes]]:
    """The records of ``path`` block by block, in key order, read as a stream (memory does
    not grow with the file). Unlike :func:`read` nothing damaged is skipped: the first
    block that is not intact, a file that ends before its end block, or an end block whose
    count differs from the records read raises :class:`SnapshotError` naming the offset
    (after the blocks before it were yielded)."""
    with open(path, "rb", buffering=1 << 20) as f:
        size = os.fstat(f.fileno()).st_size
        read_header(path)
        f.seek(HEADER.size)
        pos, plans = HEADER.size, 0
        while True:
            head = f.read(BLOCK.size)
            if len(head) < BLOCK.size:
                raise SnapshotError(f"{path} ends at offset {size} without its end block "
                                    f"(truncated?)")
            kind, count, length, crc = BLOCK.unpack(head)
            if pos + BLOCK.size + length > size:
                raise SnapshotError(f"{path}: the block at offset {pos} runs past the end "
                                    f"of the file at {size} (truncated?)")
            payload = f.read(length)
            stop = pos + BLOCK.size + length
            if zlib.crc32(payload) != crc or not _consistent(kind, count, payload):
                raise SnapshotError(f"{path} is damaged: the block at offset {pos} (bytes "
                                    f"{pos} to {stop}) does not match its checksum or "
                                    f"lengths")
            if kind == END:
                expected = _END.unpack(payload)[0]
                if expected != plans:
                    raise SnapshotError(f"{path} is damaged: it holds {plans} plans, its "
                                        f"end block (offset {pos}) says {expected}")
                return
            if kind == RECORDS:
                plans += count
                yield _items(payload, count)
            pos = stop


def _consistent(kind: int, count: int, payload: bytes) -> bool:
    if kind == END:
        return count == 0 and len(payload) == _END.size
    return (kind in _ITEM_KINDS and 4 * count <= len(payload)
            and 4 * count + sum(_lengths(payload, count)) == len(payload))


class StreamWriter:
    """Writes a snapshot block by block, in bounded memory: :meth:`records` in key order,
    then :meth:`entries` in due order (the due entries of exactly those records), then
    :meth:`finish`, which writes the claimed keys, the in-flight occurrences and the
    checkpoint and puts the file in place atomically (``PATH.tmp`` fsynced and renamed over
    ``PATH``). :meth:`abort` removes the temporary file. The one writer of the format:
    :func:`write` of a whole table and a migration's stream alike."""

    def __init__(self, path: str, generation: int, offset: int) -> None:
        self.path = path
        self.tmp = path + ".tmp"
        self.record_count = self.entry_count = 0
        self._f: BinaryIO = open(self.tmp, "wb", buffering=1 << 20)  # noqa: SIM115
        self._f.write(HEADER.pack(MAGIC, generation, offset))

    def records(self, batch: list[bytes]) -> None:
        _block(self._f, RECORDS, batch)
        self.record_count += len(batch)

    def entries(self, batch: list[bytes]) -> None:
        _block(self._f, ENTRIES, batch)
        self.entry_count += len(batch)

    def finish(self, claimed: Sequence[bytes] = (), inflight: Iterable[InFlight] = (),
               checkpoint: int | None = None) -> int:
        """Write the claimed keys, the in-flight occurrences and the end block, and put the
        file in place; return its size."""
        f = self._f
        _block(f, CLAIMED, claimed)
        _block(f, INFLIGHT, [_HELD.pack(held.lease_until, len(node)) + node + held.record
                             for held in inflight for node in (held.node.encode("utf-8"),)])
        end = _END.pack(self.record_count, self.entry_count, checkpoint or 0,
                        checkpoint is not None)
        f.write(BLOCK.pack(END, 0, len(end), zlib.crc32(end)) + end)
        f.flush()
        os.fsync(f.fileno())
        size = f.tell()
        f.close()
        os.replace(self.tmp, self.path)
        fsync_dir(self.path)
        return size

    def abort(self) -> None:
        with contextlib.suppress(OSError):  # the buffered tail may not fit either
            self._f.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)
