"""Log frames of the store's mutations, and their replay onto a :class:`PlanTable`.

One frame per mutation: ``put`` (the record; a reschedule that applies is logged as the put
or remove it amounts to), ``puts`` (the records of one bulk put, up to
:data:`PUTS_PER_FRAME` records and :data:`PUTS_BYTES_PER_FRAME` bytes per frame:
``<I count>``, each length as ``<I``, the records), ``remove`` (key), ``claim`` (node,
lease and the occurrences, one frame per claim call), ``ack`` and ``extend``
(occurrence), ``release`` (node) and ``checkpoint`` (second). Occurrences are due entries
(:mod:`.record`).
"""

from __future__ import annotations

import struct

from .log import frame
from .table import PlanTable

PUT, REMOVE, CLAIM, ACK, EXTEND, RELEASE, CHECKPOINT, PUTS = b"PXCAERKM"
#: Every frame kind (recovery resynchronises only on these).
KINDS = frozenset(b"PXCAERKM")
#: Records per ``puts`` frame: a frame torn by a crash loses a bounded (and unacknowledged)
#: part of a bulk put.
PUTS_PER_FRAME = 4096
#: Bytes of records per ``puts`` frame: frames stay short enough for recovery to
#: resynchronise on them (:data:`.log.MAX_PAYLOAD`).
PUTS_BYTES_PER_FRAME = 8 << 20

_LEASE = struct.Struct("<d")
_CLAIM = struct.Struct("<dH")
_LENGTH = struct.Struct("<H")
_COUNT = struct.Struct("<I")
_SECOND = struct.Struct("<q")


def put(rec: bytes) -> bytes:
    return frame(PUT, rec)


def puts(recs: list[bytes]) -> bytes:
    """:func:`put` of each record, in ``puts`` frames of at most :data:`PUTS_PER_FRAME`
    records and, unless one record is larger, :data:`PUTS_BYTES_PER_FRAME` bytes."""
    frames = []
    start = size = 0
    for index, rec in enumerate(recs):
        if index > start and (index - start == PUTS_PER_FRAME
                              or size + len(rec) > PUTS_BYTES_PER_FRAME):
            frames.append(frame(PUTS, _batch(recs[start:index])))
            start, size = index, 0
        size += len(rec)
    if start < len(recs):
        frames.append(frame(PUTS, _batch(recs[start:])))
    return b"".join(frames)


def _batch(recs: list[bytes]) -> bytes:
    return b"".join((_COUNT.pack(len(recs)), struct.pack(f"<{len(recs)}I", *map(len, recs)),
                     *recs))


def unbatch(payload: bytes) -> list[bytes]:
    (count,) = _COUNT.unpack_from(payload)
    pos = _COUNT.size + 4 * count
    recs = []
    for length in struct.unpack_from(f"<{count}I", payload, _COUNT.size):
        recs.append(payload[pos:pos + length])
        pos += length
    if pos != len(payload):
        raise ValueError(f"a puts frame of {count} records has {len(payload) - pos} bytes "
                         "too many")
    return recs


def remove(key: bytes) -> bytes:
    return frame(REMOVE, key)


def claim(occurrences: list[bytes], node: str, lease_until: float) -> bytes:
    raw_node = node.encode("utf-8")
    parts = [_CLAIM.pack(lease_until, len(raw_node)), raw_node]
    for occ in occurrences:
        parts.append(_LENGTH.pack(len(occ)))
        parts.append(occ)
    return frame(CLAIM, b"".join(parts))


def ack(occ: bytes) -> bytes:
    return frame(ACK, occ)


def extend(occ: bytes, lease_until: float) -> bytes:
    return frame(EXTEND, _LEASE.pack(lease_until) + occ)


def release(node: str) -> bytes:
    return frame(RELEASE, node.encode("utf-8"))


def checkpoint(second: int) -> bytes:
    return frame(CHECKPOINT, _SECOND.pack(second))


def replay(table: PlanTable, kind: int, payload: bytes) -> None:
    """Apply one logged mutation, as the store applied it when it was logged."""
    if kind == PUT:
        table.put(payload)
    elif kind == PUTS:
        table.put_many(unbatch(payload))
    elif kind == REMOVE:
        table.remove(payload)
    elif kind == CLAIM:
        lease_until, node_len = _CLAIM.unpack_from(payload)
        pos = _CLAIM.size + node_len
        node = payload[_CLAIM.size:pos].decode("utf-8")
        occurrences = []
        while pos < len(payload):
            (length,) = _LENGTH.unpack_from(payload, pos)
            pos += _LENGTH.size
            occurrences.append(payload[pos:pos + length])
            pos += length
        table.apply_claim(occurrences, node, lease_until)
    elif kind == ACK:
        table.ack(payload)
    elif kind == EXTEND:
        table.extend(payload[_LEASE.size:], _LEASE.unpack_from(payload)[0])
    elif kind == RELEASE:
        table.release(payload.decode("utf-8"))
    elif kind == CHECKPOINT:
        table.set_checkpoint(_SECOND.unpack(payload)[0])
    else:
        raise ValueError(f"unknown log record kind {kind!r}")
