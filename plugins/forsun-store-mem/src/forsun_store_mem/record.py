"""One plan as one compact ``bytes`` record, laid out so the indexes need no decoding.

Layout::

    key (UTF-8) | 0x00 | next_time (">Q", biased by 2**63) | "<B9hqd" fixed fields |
    varint-prefixed action | varint pair count | varint-prefixed params keys and values

The fixed fields are flags (bit 0 ``is_time_out``), second, minute, hour, day, month, week,
count, current_count, status, last_timeout and created_time.

Keys never contain NUL (:func:`forsun.plan.validate_plan`), so records compare like their
keys: a sorted list of records is a sorted key index. An *entry* is the 8 next_time bytes
followed by the key: entries compare like ``(next_time, key)``, so a sorted list of entries
is the due index, and an entry also names an occurrence ``(key, due second)``.

The Redis store packs plans another way (``forsun_store_redis.codec``), on purpose: each
layout is shaped by what reads it. Here the record is its own key index (key first, then
``next_time`` big-endian and biased, so that bytes order like keys and entries are cut
from a record without decoding); a layout that starts with a fixed header would need a
second object per plan to index the keys, 61 more bytes per plan with 20-character keys
(measured with tracemalloc, 10^5 plans) on the 232 the store holds at 10^7 plans (goal:
250). The Redis store keys its HASH by the plan key already, and its Lua scripts read
``next_time`` and ``created_time`` at fixed byte offsets of a fixed header, which a
record starting with a key of any length cannot offer. Both layouts are also formats on
disk (this store's snapshot and log, the Redis data), so a shared one would mean
migrating one store's data.
"""

from __future__ import annotations

import struct

from forsun.errors import ForsunPlanError
from forsun.plan import Plan

_BIAS = 1 << 63
#: The range of seconds an entry can hold.
MIN_TIME, MAX_TIME = -_BIAS, _BIAS - 1
_TIME = struct.Struct(">Q")
_FIXED = struct.Struct("<B9hqd")
#: Offset of ``created_time`` inside the fixed fields.
_CREATED_AT = _FIXED.size - 8
_CREATED = struct.Struct("<d")


def time_bytes(second: int) -> bytes:
    """``second`` as the 8 bytes that start an entry (order-preserving for signed values)."""
    return _TIME.pack(second + _BIAS)


_SMALL = [bytes((n,)) for n in range(0x80)]


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode(plan: Plan) -> bytes:
    """Pack a plan that passed :func:`forsun.plan.validate_plan`.

    Raises ForsunPlanError 1004 when ``next_time``/``last_timeout`` do not fit 64 bits or
    ``created_time`` is not a number (fields validate_plan leaves open).
    """
    params = plan.params
    count = len(params)
    try:
        parts = [plan.key.encode("utf-8"), b"\0", _TIME.pack(plan.next_time + _BIAS),
                 _FIXED.pack(1 if plan.is_time_out else 0, plan.second, plan.minute,
                             plan.hour, plan.day, plan.month, plan.week, plan.count,
                             plan.current_count, plan.status, plan.last_timeout,
                             plan.created_time),
                 _action_bytes(plan.action), _SMALL[count] if count < 0x80 else _varint(count)]
    except (struct.error, TypeError):
        _refuse_unpackable(plan)
        raise
    parts.append(_ascii_params(params) or _utf8_params(params))
    return b"".join(parts)


def _refuse_unpackable(plan: Plan) -> None:
    if not -_BIAS <= plan.next_time < _BIAS:
        raise ForsunPlanError.invalid("next_time", "does not fit in 64 bits")
    if not -_BIAS <= plan.last_timeout < _BIAS:
        raise ForsunPlanError.invalid("last_timeout", "does not fit in 64 bits")
    if not isinstance(plan.created_time, int | float):
        raise ForsunPlanError.invalid("created_time", "must be a number of seconds")


_ACTIONS: dict[str, bytes] = {}


def _action_bytes(action: str) -> bytes:
    """The varint-prefixed action (few distinct actions exist: cached)."""
    raw = _ACTIONS.get(action)
    if raw is None:
        raw = action.encode("utf-8")
        raw = _varint(len(raw)) + raw
        if len(_ACTIONS) < 1024:
            _ACTIONS[action] = raw
    return raw


def _ascii_params(params: dict[str, str]) -> bytes:
    """The params section when every name and value is ASCII and shorter than 128 bytes
    (each length is then one byte, the same character in ASCII); else ``b""``."""
    pieces = []
    for name, value in params.items():
        if len(name) >= 0x80 or len(value) >= 0x80:
            return b""
        pieces += (chr(len(name)), name, chr(len(value)), value)
    text = "".join(pieces)
    return text.encode("ascii") if text.isascii() else b""


def _utf8_params(params: dict[str, str]) -> bytes:
    parts = []
    for name, value in params.items():
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        parts += (_varint(len(raw_name)), raw_name, _varint(len(raw_value)), raw_value)
    return b"".join(parts)


def decode(record: bytes) -> Plan:
    """The plan :func:`encode` packed."""
    split = record.index(0)
    pos = split + 1 + _TIME.size
    (flags, second, minute, hour, day, month, week, count, current_count, status,
     last_timeout, created_time) = _FIXED.unpack_from(record, pos)
    pos += _FIXED.size
    action, pos = _read_text(record, pos)
    pairs, pos = _read_varint(record, pos)
    params = {}
    for _ in range(pairs):
        name, pos = _read_text(record, pos)
        params[name], pos = _read_text(record, pos)
    return Plan(key=record[:split].decode("utf-8"), second=second, minute=minute, hour=hour,
                day=day, month=month, week=week, is_time_out=bool(flags & 1), count=count,
                current_count=current_count, status=status, next_time=next_time(record, split),
                last_timeout=last_timeout, created_time=created_time, action=action,
                params=params)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _read_text(data: bytes, pos: int) -> tuple[str, int]:
    length, pos = _read_varint(data, pos)
    end = pos + length
    return data[pos:end].decode("utf-8"), end


def key_length(record: bytes) -> int:
    return record.index(0)


def next_time(record: bytes, key_len: int) -> int:
    return _TIME.unpack_from(record, key_len + 1)[0] - _BIAS


def created_time(record: bytes, key_len: int) -> float:
    return _CREATED.unpack_from(record, key_len + 1 + _TIME.size + _CREATED_AT)[0]


def entry(record: bytes, key_len: int) -> bytes:
    """The due-index entry (next_time bytes + key) of ``record``."""
    return record[key_len + 1:key_len + 1 + _TIME.size] + record[:key_len]


def entry_key(entry_: bytes) -> bytes:
    return entry_[_TIME.size:]


def entry_time(entry_: bytes) -> int:
    return _TIME.unpack_from(entry_)[0] - _BIAS
