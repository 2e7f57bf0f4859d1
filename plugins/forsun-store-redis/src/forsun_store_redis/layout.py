"""Where the Redis store keeps things: key names under a prefix and the record bytes its Lua
scripts read.

Every key is ``{PREFIX}:NAME``: the braces are a Redis Cluster hash tag, so all keys of one
prefix live in one slot and a script may touch any of them atomically.

Plans are stored packed by :func:`.codec.encode_plan`. The scripts never decode a
record; they only read the fixed-offset header fields below (codec version 1), which
:func:`check_codec_layout` verifies against the codec before the store is used.
"""

from __future__ import annotations

import struct

import attrs

from forsun.plan import Plan

from .codec import encode_plan

#: Byte ranges (Python slices) of header fields in a packed plan.
NEXT_TIME = slice(22, 30)  # int64, little-endian
CREATED_TIME = slice(38, 46)  # float64, little-endian

_INT64 = struct.Struct("<q")


def check_codec_layout() -> None:
    """Raise RuntimeError unless the codec still writes the header fields at the offsets the
    Lua scripts use (a codec change must come with a script change)."""
    probe = Plan(key="k", next_time=-2 ** 40 + 7, created_time=1234.5678)
    record = encode_plan(probe)
    expected = (
        (NEXT_TIME, _INT64.pack(probe.next_time)),
        (CREATED_TIME, struct.pack("<d", probe.created_time)),
    )
    for where, raw in expected:
        if record[where] != raw:
            raise RuntimeError("forsun_store_redis.codec changed its record header; update "
                               "forsun_store_redis.layout and its Lua scripts")


def occurrence_id(key: str, next_time: int) -> bytes:
    """The in-flight id of occurrence ``(key, next_time)``: the key, NUL (never in a key),
    then ``next_time`` packed as in a record (so a script builds it from a record's bytes)."""
    return key.encode("utf-8") + b"\0" + _INT64.pack(next_time)


def lex_range(prefix: str) -> tuple[bytes, bytes]:
    """``ZRANGEBYLEX`` bounds of every member starting with ``prefix``.

    Members compare as UTF-8 bytes, which orders like Python compares ``str`` (UTF-8 keeps
    code point order). No UTF-8 text contains byte 0xFF, so ``prefix + 0xFF`` (exclusive)
    is above every extension of ``prefix`` and below everything after them.
    """
    if not prefix:
        return b"-", b"+"
    raw = prefix.encode("utf-8")
    return b"[" + raw, b"(" + raw + b"\xff"


@attrs.frozen(slots=True)
class Layout:
    """Key names of one store prefix."""

    prefix: str = attrs.field()

    @prefix.validator
    def _check(self, _attribute: attrs.Attribute, value: str) -> None:
        if not value:
            raise ValueError("--driver-redis-prefix must not be empty (it is the cluster "
                             "hash tag of every key)")

    def name(self, suffix: str) -> str:
        return f"{{{self.prefix}}}:{suffix}"

    @property
    def plans(self) -> str:
        """HASH plan key → packed plan, as put."""
        return self.name("plans")

    @property
    def due(self) -> str:
        """ZSET plan key scored by ``next_time``: the plans waiting to be claimed. A stored
        plan missing here is claimed and not rescheduled yet: its status reads executing."""
        return self.name("due")

    @property
    def keys(self) -> str:
        """ZSET of every plan key, all scored 0, for ``ZRANGEBYLEX`` prefix queries."""
        return self.name("keys")

    @property
    def inflight(self) -> str:
        """HASH occurrence id → packed snapshot of the claimed plan."""
        return self.name("inflight")

    @property
    def lease(self) -> str:
        """ZSET occurrence id scored by ``lease_until`` (-inf once released)."""
        return self.name("lease")

    @property
    def owner(self) -> str:
        """HASH occurrence id → node holding it."""
        return self.name("owner")

    @property
    def held_prefix(self) -> str:
        """Prefix of the per-node SETs of held occurrence ids (``held_prefix + node``)."""
        return self.name("held:")

    def held(self, node: str) -> str:
        return self.held_prefix + node

    @property
    def nodes(self) -> str:
        """ZSET node → the time its last heartbeat keeps it alive until (unix seconds, by
        its clock); ``-inf`` once another node took its claims over."""
        return self.name("nodes")

    @property
    def checkpoint(self) -> str:
        """STRING: the last fully processed second (the maximum any node reported)."""
        return self.name("checkpoint")

    @property
    def failures(self) -> str:
        """HASH failure id → the failure as JSON (:meth:`forsun.store.failures.Failure.to_dict`)."""
        return self.name("failures")

    @property
    def failure_order(self) -> str:
        """ZSET failure id scored by the sequence number of its (last) addition."""
        return self.name("failures:order")

    @property
    def failure_seq(self) -> str:
        """STRING: the last sequence number given to a failure."""
        return self.name("failures:seq")

    @property
    def failures_dropped(self) -> str:
        """STRING: failures dropped beyond the bound, ever."""
        return self.name("failures:dropped")
