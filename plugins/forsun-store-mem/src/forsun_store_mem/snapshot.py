"""The snapshot file: a whole :class:`PlanTable` as of a position in the log.

Layout: a header ``<8sQQ`` (``FSNSNP01``, log generation, log offset: the snapshot holds
every mutation of that log before that offset) and blocks ``<BII`` (kind, item count,
payload length), ``<I`` crc32 of the payload, then the payload. Item blocks hold ``count``
``<I`` lengths followed by the items: records in key order (``R``), due entries in due order
(``D``), claimed keys (``C``), in-flight occurrences (``F``: ``<dH`` lease and node length,
node, record). Writing both orders lets loading append to the indexes without sorting.
The last block (``Z``) holds the counts and the checkpoint; a file without it is refused.

Snapshots are written to ``PATH.tmp``, fsynced and renamed over ``PATH``: a crash leaves the
previous snapshot intact.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Iterator
from itertools import accumulate, pairwise
from typing import BinaryIO

from .log import fsync_dir
from .table import Frozen, InFlight, PlanTable

MAGIC = b"FSNSNP01"
HEADER = struct.Struct("<8sQQ")
BLOCK = struct.Struct("<BIII")
RECORDS, ENTRIES, CLAIMED, INFLIGHT, END = b"RDCFZ"
_END = struct.Struct("<QQq?")
_HELD = struct.Struct("<dH")
#: Items per block: big enough for C-speed joins, small enough to keep memory flat.
BATCH = 64_000

assert array("I").itemsize == 4


class SnapshotError(Exception):
    """A snapshot file that cannot be read back completely."""


def write(path: str, frozen: Frozen, generation: int, offset: int) -> int:
    """Write ``frozen`` atomically to ``path``; return the file size."""
    tmp = path + ".tmp"
    try:
        size = _write(tmp, frozen, generation, offset)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.replace(tmp, path)
    fsync_dir(path)
    return size


def _write(tmp: str, frozen: Frozen, generation: int, offset: int) -> int:
    with open(tmp, "wb", buffering=1 << 20) as f:
        f.write(HEADER.pack(MAGIC, generation, offset))
        for batch in _batches(frozen.records):
            _block(f, RECORDS, batch)
        for batch in _batches(frozen.entries):
            _block(f, ENTRIES, batch)
        _block(f, CLAIMED, frozen.claimed)
        _block(f, INFLIGHT, [_HELD.pack(held.lease_until, len(node)) + node + held.record
                             for held in frozen.inflight
                             for node in (held.node.encode("utf-8"),)])
        end = _END.pack(frozen.record_count, frozen.entry_count, frozen.checkpoint or 0,
                        frozen.checkpoint is not None)
        f.write(BLOCK.pack(END, 0, len(end), zlib.crc32(end)) + end)
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def _batches(lists: list[list[bytes]]) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for sub in lists:
        batch.extend(sub)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _block(f: BinaryIO, kind: int, items: list[bytes]) -> None:
    lengths = array("I", map(len, items))
    if sys.byteorder == "big":
        lengths.byteswap()
    payload = lengths.tobytes() + b"".join(items)
    f.write(BLOCK.pack(kind, len(items), len(payload), zlib.crc32(payload)))
    f.write(payload)


def read(path: str, table: PlanTable,
         on_progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Load ``path`` into the empty ``table``; return its (log generation, log offset)."""
    claimed: list[bytes] = []
    inflight: list[InFlight] = []
    with open(path, "rb") as f:
        head = f.read(HEADER.size)
        if len(head) < HEADER.size or head[:8] != MAGIC:
            raise SnapshotError(f"{path} is not a forsun mem store snapshot")
        _, generation, offset = HEADER.unpack(head)
        while True:
            block = f.read(BLOCK.size)
            if len(block) < BLOCK.size:
                raise SnapshotError(f"{path} ends before its last block (truncated)")
            kind, count, length, crc = BLOCK.unpack(block)
            payload = f.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                raise SnapshotError(f"{path}: block at offset {f.tell() - len(payload)} is "
                                    f"damaged (checksum mismatch)")
            if on_progress is not None:
                on_progress(f.tell())
            if kind == END:
                records, entries, checkpoint, has_checkpoint = _END.unpack(payload)
                break
            items = _items(payload, count)
            if kind == RECORDS:
                table.load_records(items)
            elif kind == ENTRIES:
                table.load_entries(items)
            elif kind == CLAIMED:
                claimed = items
            elif kind == INFLIGHT:
                inflight = [_held(item) for item in items]
            else:
                raise SnapshotError(f"{path}: unknown block kind {kind!r}")
    if (len(table.by_key), len(table.by_due)) != (records, entries):
        raise SnapshotError(f"{path}: holds {len(table.by_key)} plans and "
                            f"{len(table.by_due)} due entries, its end says {records} and "
                            f"{entries}")
    table.restore(claimed, inflight, checkpoint if has_checkpoint else None)
    return generation, offset


def _items(payload: bytes, count: int) -> list[bytes]:
    lengths = array("I")
    lengths.frombytes(memoryview(payload)[:4 * count])
    if sys.byteorder == "big":
        lengths.byteswap()
    return [payload[a:b] for a, b in pairwise(accumulate(lengths, initial=4 * count))]


def _held(item: bytes) -> InFlight:
    lease_until, node_len = _HELD.unpack_from(item)
    start = _HELD.size
    return InFlight(record=item[start + node_len:],
                    node=item[start:start + node_len].decode("utf-8"), lease_until=lease_until)
