"""Log frames of the store's mutations, and their replay onto a :class:`PlanTable`.

One frame per mutation: ``put`` (the record; a reschedule that applies is logged as the put
or remove it amounts to), ``remove`` (key), ``claim`` (node, lease and the occurrences, one
frame per claim call), ``ack`` and ``extend`` (occurrence), ``release`` (node) and
``checkpoint`` (second). Occurrences are due entries (:mod:`.record`).
"""

from __future__ import annotations

import struct

from .log import frame, frames
from .table import PlanTable

PUT, REMOVE, CLAIM, ACK, EXTEND, RELEASE, CHECKPOINT = b"PXCAERK"

_LEASE = struct.Struct("<d")
_CLAIM = struct.Struct("<dH")
_LENGTH = struct.Struct("<H")
_SECOND = struct.Struct("<q")


def put(rec: bytes) -> bytes:
    return frame(PUT, rec)


def puts(recs: list[bytes]) -> bytes:
    """:func:`put` of each record, concatenated."""
    return frames(PUT, recs)


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
