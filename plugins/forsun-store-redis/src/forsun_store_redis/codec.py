"""The Redis store's record: a :class:`~forsun.plan.Plan` packed as the value of its HASH.

Layout (little-endian): a fixed header ``<BBhhhhhhiiqqdh`` — format version, flags
(bit 0 ``is_time_out``), the six schedule fields, ``count``, ``current_count``,
``next_time``, ``last_timeout``, ``created_time``, ``status`` — then ``action``, ``key``
and each params pair as varint-length-prefixed UTF-8. Round trips every valid plan exactly.
The Lua scripts read ``next_time`` and ``created_time`` at their fixed offsets in the
header (:mod:`.layout`). The mem store packs plans its own way (its ``record.py`` says why).
"""

from __future__ import annotations

import struct

from forsun.plan import Plan

VERSION = 1
_HEADER = struct.Struct("<BBhhhhhhiiqqdh")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _text(value: str) -> bytes:
    raw = value.encode("utf-8")
    return _varint(len(raw)) + raw


def encode_plan(plan: Plan) -> bytes:
    """Pack a (validated) plan."""
    parts = [
        _HEADER.pack(VERSION, 1 if plan.is_time_out else 0, plan.second, plan.minute,
                     plan.hour, plan.day, plan.month, plan.week, plan.count,
                     plan.current_count, plan.next_time, plan.last_timeout,
                     plan.created_time, plan.status),
        _text(plan.action),
        _text(plan.key),
        _varint(len(plan.params)),
    ]
    for k, v in plan.params.items():
        parts.append(_text(k))
        parts.append(_text(v))
    return b"".join(parts)


def decode_plan(data: bytes | memoryview) -> Plan:
    """Unpack what :func:`encode_plan` wrote; ValueError on a record it cannot read."""
    try:
        (version, flags, second, minute, hour, day, month, week, count, current_count,
         next_time, last_timeout, created_time, status) = _HEADER.unpack_from(data, 0)
        if version != VERSION:
            raise ValueError(f"unknown plan record version {version}")
        pos = _HEADER.size
        strings = []
        for _ in range(2):
            length, pos = _read_varint(data, pos)
            strings.append(bytes(data[pos:pos + length]).decode("utf-8"))
            pos += length
        pairs, pos = _read_varint(data, pos)
        params = {}
        for _ in range(pairs):
            kv = []
            for _ in range(2):
                length, pos = _read_varint(data, pos)
                kv.append(bytes(data[pos:pos + length]).decode("utf-8"))
                pos += length
            params[kv[0]] = kv[1]
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"corrupt plan record: {exc}") from exc
    return Plan(key=strings[1], second=second, minute=minute, hour=hour, day=day, month=month,
                week=week, is_time_out=bool(flags & 1), count=count, current_count=current_count,
                status=status, next_time=next_time, last_timeout=last_timeout,
                created_time=created_time, action=strings[0], params=params)
