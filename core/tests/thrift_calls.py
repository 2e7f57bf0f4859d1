"""Thrift calls for the core's Thrift tests: valid ones as any client sends them, and their
mutations (bytes flipped, inserted or deleted) for the fuzz tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from thriftpy2.protocol import TBinaryProtocol
from thriftpy2.thrift import TMessageType
from thriftpy2.transport import TMemoryBuffer

from forsun.idl import load_idl


def encode_call(name: str, seqid: int = 1, **args: Any) -> bytes:
    """A valid call of ``name`` as any Thrift client sends it."""
    proto = TBinaryProtocol(TMemoryBuffer())
    proto.write_message_begin(name, TMessageType.CALL, seqid)
    proto.write_struct(getattr(load_idl().Forsun, name + "_args")(**args))
    proto.write_message_end()
    return proto.trans.getvalue()


def mutated(message: bytes, data: st.DataObject) -> bytes:
    """``message`` with 1 to 6 bytes flipped, inserted or deleted, drawn from ``data``."""
    raw = bytearray(message)
    for _ in range(data.draw(st.integers(1, 6))):
        where = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip":
            raw[where] = data.draw(st.integers(0, 255))
        elif action == "insert":
            raw[where:where] = data.draw(st.binary(min_size=1, max_size=8))
        elif len(raw) > 1:
            del raw[where]
    return bytes(raw)
