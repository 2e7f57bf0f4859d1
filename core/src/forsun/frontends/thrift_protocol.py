"""The Thrift binary protocol on the server side: reading calls from a byte stream and
encoding replies.

The transport is buffered, not framed, so a message ends where its structure ends and
must be parsed as the bytes arrive. The decoder is ours rather than thriftpy2's so that
malformed input is always an error and never a hang of the event loop: sizes are checked,
unknown type ids are refused, nesting is bounded and a message may not exceed
:data:`MAX_MESSAGE_BYTES` (every element of a container consumes at least one byte, so
the byte budget also bounds the work). What calls being received may hold is bounded
too (:class:`Limits`): per call before the connection authenticated, and across all
connections. Replies are encoded with thriftpy2's (C-accelerated) binary protocol.

The fast path (:func:`_whole_call`): a call that already lies whole in the buffer, within
the call's free bytes, is checked by a scan of its structure (the same rules: type ids,
sizes, nesting) and only then decoded by thriftpy2's C protocol from exactly its bytes;
anything the scan does not accept goes to the decoder above, which decides. (The C
protocol alone would loop over a container of a huge count of an unknown type, reading
nothing.) A createTimeout costs ~6 µs this way against ~44 µs in the generator decoder.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Generator
from typing import Any

import attrs
from thriftpy2.protocol import TBinaryProtocol, TCyBinaryProtocol
from thriftpy2.thrift import TApplicationException, TMessageType, TType
from thriftpy2.transport import TCyMemoryBuffer, TMemoryBuffer

from ..idl import TOKEN_FIELD_ID
from .security import token_accepted

#: Largest request accepted (plans carry at most 1 MiB of params).
MAX_MESSAGE_BYTES = 8 << 20
#: Longest method name accepted; also tells an old-style header from garbage.
MAX_NAME_BYTES = 255
#: Deepest nesting of structs and containers accepted.
MAX_DEPTH = 32

_VERSION_MASK = -65536  # 0xffff0000 as a signed i32
_VERSION_1 = -2147418112  # 0x80010000 as a signed i32
_I8 = struct.Struct("!b")
_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_LIST_HEAD = struct.Struct("!bi")
_MAP_HEAD = struct.Struct("!bbi")
_SCALARS = {
    TType.BOOL: struct.Struct("!?"),
    TType.BYTE: _I8,
    TType.I16: _I16,
    TType.I32: _I32,
    TType.I64: struct.Struct("!q"),
    TType.DOUBLE: struct.Struct("!d"),
}
_WIRE_TYPES = frozenset({*_SCALARS, TType.STRING, TType.STRUCT, TType.MAP, TType.SET,
                         TType.LIST})
#: Bytes a value of each wire type starts with before any variable part: the scalar
#: itself, a string's length, a container's header; a struct has none.
_HEAD_SIZES = {**{ttype: scalar.size for ttype, scalar in _SCALARS.items()},
               TType.STRING: 4, TType.STRUCT: 0, TType.MAP: _MAP_HEAD.size,
               TType.SET: _LIST_HEAD.size, TType.LIST: _LIST_HEAD.size}

#: ``TApplicationException`` kinds for :func:`encode_exception`.
UNKNOWN_METHOD = TApplicationException.UNKNOWN_METHOD
INTERNAL_ERROR = TApplicationException.INTERNAL_ERROR


class MalformedMessage(Exception):
    """The peer sent bytes that are not a Thrift binary call (or the stream ended inside
    one, or the call exceeds what it may hold). The connection cannot be resynchronised
    and must be closed."""


class BufferFull(MalformedMessage):
    """The call needs more of the shared :class:`ByteBudget` than is left."""


@attrs.define(slots=True)  # not frozen: a frozen class's __init__ took 1.2 µs, this 0.4
class Call:
    """One decoded call. ``args`` is the method's thriftpy2 args struct, or None when the
    service has no method ``name`` (its arguments were read and discarded). ``token`` is
    the string in the reserved argument field :data:`~forsun.idl.TOKEN_FIELD_ID`, if the
    caller sent one."""

    name: str
    type: int
    seqid: int
    args: Any
    token: str | None = None

    @property
    def oneway(self) -> bool:
        """The caller expects no reply."""
        return self.type == TMessageType.ONEWAY


#: Largest value assembled in the receive buffer; a larger one gets a buffer of its own.
_CHUNK = 1 << 16
#: Least a call takes from the shared budget at a time once its free bytes are spent.
_GROW = 1 << 16

#: A parser step: yields how many bytes it needs next, is sent exactly those bytes.
Parser = Generator[int, bytes, Any]


class ByteBudget:
    """Bytes that calls being received may hold beyond their free bytes, shared by all the
    connections of a front end."""

    __slots__ = ("available",)

    def __init__(self, total: int) -> None:
        self.available = total

    def take(self, size: int) -> bool:
        """Reserve ``size`` bytes; False (nothing reserved) when fewer are left."""
        if size > self.available:
            return False
        self.available -= size
        return True

    def give(self, size: int) -> None:
        self.available += size


@attrs.frozen(slots=True)
class Limits:
    """What the calls of a connection may hold while they are received.

    Each call may take ``free_bytes`` without asking ``budget``; beyond them it reserves
    from ``budget`` until it has been read. While the server has a ``token`` and no call
    of the connection has carried it, a call may not grow beyond ``free_bytes`` unless
    the token field (:data:`~forsun.idl.TOKEN_FIELD_ID`) already came in that call.
    """

    free_bytes: int
    budget: ByteBudget
    token: str = ""


class CallReader:
    """Assembles the calls of one connection from the bytes it receives: :meth:`feed` the
    bytes as they arrive, take the calls complete so far with :meth:`next_call`.

    A call lying whole in the buffer within its free bytes is decoded by the fast path
    (:func:`_whole_call`); any other by the generator decoder, which yields how many bytes
    it needs next and is resumed once they are buffered, so a call may arrive in any number
    of pieces. A value larger than :data:`_CHUNK` is assembled in a buffer of exactly its
    size. Bytes past a call stay buffered for the next one.

    ``authenticated`` starts true unless the server has a token; the front end sets it
    once a call of the connection carried the token. :meth:`release` gives back what an
    unfinished call holds of the shared budget; call it when the connection closes."""

    __slots__ = ("_budget", "_buffer", "_held", "_large", "_large_have", "_need", "_parser",
                 "_pos", "_reserved", "authenticated", "limits", "service")

    def __init__(self, service: type, limits: Limits) -> None:
        self.service = service
        self.limits = limits
        self.authenticated = not limits.token
        self._buffer: bytes | bytearray = b""
        self._pos = 0
        self._held = 0
        #: The generator decoder of the call being assembled, what it asked for and what
        #: is left of the call's free bytes plus its reservations.
        self._parser: Parser | None = None
        self._need = 0
        self._budget = 0
        self._reserved: dict[int, Any] = {}
        #: The exact-size buffer of a large value being received, and its bytes so far.
        self._large: bytearray | None = None
        self._large_have = 0

    @property
    def buffered(self) -> int:
        """Bytes received that no call has taken yet (a large value being assembled and the
        parts of a call already decoded are not counted)."""
        return len(self._buffer) - self._pos

    @property
    def inside_call(self) -> bool:
        """Part of a call has been received, not all of it."""
        return self._parser is not None or self._pos < len(self._buffer)

    def feed(self, data: bytes) -> None:
        """Take ``data``, the next bytes of the connection."""
        large = self._large
        if large is not None:
            have = self._large_have
            take = min(len(data), len(large) - have)
            large[have:have + take] = memoryview(data)[:take]
            self._large_have = have + take
            if take == len(data):
                return
            data = data[take:]
        buffer = self._buffer
        if self._pos == len(buffer):
            self._buffer, self._pos = data, 0  # the usual case: no copy
        elif self._pos or not isinstance(buffer, bytearray):
            joined = bytearray(memoryview(buffer)[self._pos:])
            joined += data
            self._buffer, self._pos = joined, 0
        else:
            buffer += data

    def next_call(self) -> Call | None:
        """The next call to :attr:`service` when all of it has been received, else None.
        Raises :class:`MalformedMessage` for anything that is not a valid call within the
        :class:`Limits` (the connection must then be closed)."""
        if self._parser is None:
            buffer, pos = self._buffer, self._pos
            if pos == len(buffer):
                return None
            whole = _whole_call(buffer, pos, min(len(buffer), pos + self.limits.free_bytes),
                                self.service)
            if whole is not None:
                call, self._pos = whole
                return call
            self._reserved = {}
            self._parser = _read_call(self.service, self._reserved)
            self._budget = self.limits.free_bytes
            self._ask(next(self._parser))
        return self._advance()

    def release(self) -> None:
        """Give back what the unfinished call holds of the shared budget."""
        self._parser = None
        self._large = None
        if self._held:
            self.limits.budget.give(self._held)
            self._held = 0

    def _advance(self) -> Call | None:
        """Feed the generator decoder what it asked for while it is buffered."""
        parser = self._parser
        assert parser is not None
        send = parser.send
        try:
            while True:
                size = self._need
                large = self._large
                if large is not None:
                    if self._large_have < size:
                        return None
                    self._large = None
                    data: bytes | bytearray = large
                else:
                    buffer, pos = self._buffer, self._pos
                    end = pos + size
                    if end > len(buffer):
                        if size > _CHUNK:
                            self._start_large(size)
                        return None
                    data = buffer[pos:end]
                    self._pos = end
                self._ask(send(data))
        except StopIteration as done:
            self.release()
            return done.value

    def _ask(self, size: int) -> None:
        """Account for the ``size`` bytes the decoder asks for next (see :meth:`_grow`)."""
        if size < 0:
            raise MalformedMessage(f"negative size {size}")
        self._need = size
        self._budget -= size
        if self._budget < 0:
            self._budget = self._grow(self._budget, self._reserved)

    def _start_large(self, size: int) -> None:
        """Receive the next ``size`` bytes into a buffer of exactly that size. (Collected in
        chunks and joined, a large value took two to three times its size in resident
        memory while it arrived.)"""
        large = bytearray(size)
        have = len(self._buffer) - self._pos
        large[:have] = memoryview(self._buffer)[self._pos:]
        self._buffer, self._pos = b"", 0
        self._large, self._large_have = large, have

    def _grow(self, budget: int, reserved: dict[int, Any]) -> int:
        """The call's remaining ``budget`` (negative: it has spent its free bytes and what
        it reserved) after reserving more, or :class:`MalformedMessage` saying why not."""
        limits = self.limits
        if limits.free_bytes + self._held - budget > MAX_MESSAGE_BYTES:
            raise MalformedMessage(f"message larger than {MAX_MESSAGE_BYTES} bytes")
        if not self.authenticated:
            if not token_accepted(limits.token, reserved.get(TOKEN_FIELD_ID)):
                raise MalformedMessage(
                    f"a call larger than {limits.free_bytes} bytes before the connection "
                    f"sent the token (--thrift-preauth-bytes); send the token field "
                    f"{TOKEN_FIELD_ID} first")
            self.authenticated = True
        more = max(-budget, _GROW)
        if not limits.budget.take(more):
            raise BufferFull(f"the call needs {-budget} more bytes than the "
                             f"{limits.budget.available} left of --thrift-buffer-bytes")
        self._held += more
        return budget + more


class _NotWhole(Exception):
    """The scan cannot accept the call: not all of it is in the buffer, or it is malformed."""


#: Wire types of a fixed size (those :data:`_SCALARS` reads).
_FIXED = {ttype: scalar.size for ttype, scalar in _SCALARS.items()}
#: Key and value types of a ``map<string, string>`` (the params of a plan).
_STRING_PAIR = (TType.STRING, TType.STRING)


def _whole_call(data: bytes | bytearray, pos: int, end: int,
                service: type) -> tuple[Call, int] | None:
    """The call starting at ``data[pos]`` and where it ends, when it lies whole before
    ``end``, is well formed and decodes as strict UTF-8; None to leave it to the
    generator decoder (an incomplete or malformed call, an unknown method, an invalid
    string). The one fast path of this module (see the module docstring)."""
    try:
        word = _I32.unpack_from(data, pos)[0]
        if word < 0:
            if word & _VERSION_MASK != _VERSION_1:
                return None
            mtype = word & 0xFF
            size = _I32.unpack_from(data, pos + 4)[0]
            start = pos + 8
            body = start + size + 4
        else:
            size = word
            start = pos + 4
            mtype = _I8.unpack_from(data, start + size)[0]
            body = start + size + 5
        if not 0 <= size <= MAX_NAME_BYTES or mtype not in (TMessageType.CALL,
                                                           TMessageType.ONEWAY):
            return None
        name = bytes(data[start:start + size]).decode("utf-8")
        seqid = _I32.unpack_from(data, body - 4)[0]
        if name not in service.thrift_services:
            return None
        stop = _scan_struct(data, body, end, MAX_DEPTH)
        args = _token_args(service, name)()
        _WHOLE.trans.setvalue(bytes(data[body:stop]))
        _WHOLE.read_struct(args)
    except (_NotWhole, struct.error, UnicodeDecodeError):
        return None
    token = args.__dict__.pop(_TOKEN_ATTRIBUTE, None)
    return Call(name, mtype, seqid, args, token), stop


def _scan_struct(data: bytes | bytearray, pos: int, end: int, depth: int) -> int:
    """Where the struct at ``data[pos]`` ends, by the decoder's rules (:func:`_read_struct`).
    Scalars and strings, most fields, are stepped over here without a call."""
    fixed_sizes, string, unpack = _FIXED, TType.STRING, _I32.unpack_from
    while True:
        if pos >= end:
            raise _NotWhole
        ftype = data[pos]
        if ftype == TType.STOP:
            return pos + 1
        fixed = fixed_sizes.get(ftype)
        if fixed is not None:
            pos += 3 + fixed
        elif ftype == string:
            size = unpack(data, pos + 3)[0]
            if size < 0:
                raise _NotWhole
            pos += 7 + size
        else:
            pos = _scan_value(data, pos + 3, end, ftype, depth)


def _scan_value(data: bytes | bytearray, pos: int, end: int, ttype: int, depth: int) -> int:
    """Where the value of wire type ``ttype`` at ``data[pos]`` ends (:func:`_read_value`)."""
    fixed = _FIXED.get(ttype)
    if fixed is not None:
        pos += fixed
    elif ttype == TType.STRING:
        size = _I32.unpack_from(data, pos)[0]
        if size < 0:
            raise _NotWhole
        pos += 4 + size
    elif ttype not in _WIRE_TYPES or depth <= 0:
        raise _NotWhole
    elif ttype == TType.STRUCT:
        pos = _scan_struct(data, pos, end, depth - 1)
    else:
        if ttype == TType.MAP:
            ktype, vtype, size = _MAP_HEAD.unpack_from(data, pos)
            types = (ktype, vtype)
            pos += _MAP_HEAD.size
        else:
            etype, size = _LIST_HEAD.unpack_from(data, pos)
            types = (etype,)
            pos += _LIST_HEAD.size
        if size > 0:
            if size > end - pos or not _WIRE_TYPES.issuperset(types):
                raise _NotWhole  # each element takes a byte at least
            if types == _STRING_PAIR or all(t == TType.STRING for t in types):
                unpack = _I32.unpack_from  # params: map<string, string>, tested first
                for _ in range(size * len(types)):
                    length = unpack(data, pos)[0]
                    if length < 0:
                        raise _NotWhole
                    pos += 4 + length
            else:
                fixed_sizes = [_FIXED.get(t) for t in types]
                if None not in fixed_sizes:
                    pos += size * sum(fixed_sizes)  # type: ignore[arg-type]
                else:
                    for _ in range(size):
                        for element in types:
                            pos = _scan_value(data, pos, end, element, depth - 1)
        elif size < 0:
            raise _NotWhole
    if pos > end:
        raise _NotWhole
    return pos


#: The fast path's C decoder, reused: it runs on the event loop's thread only, and reads
#: only bytes set just before.
_WHOLE = TCyBinaryProtocol(TCyMemoryBuffer(), strict_decode=True)
#: Where the fast path's argument structs keep the token field until it is taken out.
_TOKEN_ATTRIBUTE = "_forsun_token"


@functools.cache
def _token_args(service: type, name: str) -> type:
    """The args struct of method ``name`` that also reads the token field
    (:data:`~forsun.idl.TOKEN_FIELD_ID`) as a string into :data:`_TOKEN_ATTRIBUTE`."""
    args = getattr(service, name + "_args")
    spec = {**args.thrift_spec, TOKEN_FIELD_ID: (TType.STRING, _TOKEN_ATTRIBUTE, False)}
    return type(args.__name__, (args,), {"thrift_spec": spec, "__module__": args.__module__})


def _read_call(service: type, reserved: dict[int, Any]) -> Parser:
    word = _I32.unpack((yield 4))[0]
    if word < 0:
        if word & _VERSION_MASK != _VERSION_1:
            raise MalformedMessage(f"bad protocol version 0x{word & 0xffffffff:08x}")
        mtype = word & 0xFF
        name = yield from _read_name(_I32.unpack((yield 4))[0])
    else:  # the old, non-strict header: name length first, type after the name
        name = yield from _read_name(word)
        mtype = _I8.unpack((yield 1))[0]
    seqid = _I32.unpack((yield 4))[0]
    if mtype not in (TMessageType.CALL, TMessageType.ONEWAY):
        raise MalformedMessage(f"message type {mtype} is not a call")
    args = None
    if name in service.thrift_services:
        args = getattr(service, name + "_args")()
    yield from _read_struct(args, MAX_DEPTH, reserved)
    return Call(name, mtype, seqid, args, reserved.get(TOKEN_FIELD_ID))


def _read_name(size: int) -> Parser:
    if not 0 <= size <= MAX_NAME_BYTES:
        raise MalformedMessage(f"method name length {size} is out of range")
    try:
        return (yield size).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessage("method name is not UTF-8") from exc


def _check_type(ttype: int) -> None:
    if ttype not in _WIRE_TYPES:
        raise MalformedMessage(f"unknown type id {ttype}")


def _split(spec: Any) -> tuple[int | None, Any]:
    """A container element spec (``type`` or ``(type, spec)``) as ``(type, spec)``."""
    if spec is None:
        return None, None
    return (spec, None) if isinstance(spec, int) else spec


def _read_struct(obj: Any, depth: int, reserved: dict[int, Any] | None = None) -> Parser:
    """Read a struct's fields into ``obj`` (None: read and discard). Fields that ``obj``
    does not declare, or declares with another type, are skipped. With ``reserved``, the
    string field :data:`TOKEN_FIELD_ID` is read into it (by id) instead.

    A field's id and the fixed-size head of its value (a scalar, a string's length, a
    container's header) are asked for in one step."""
    fields = obj.thrift_spec if obj is not None else {}
    while True:
        ftype = _I8.unpack((yield 1))[0]
        if ftype == TType.STOP:
            return
        _check_type(ftype)
        data = yield 2 + _HEAD_SIZES[ftype]
        fid = _I16.unpack_from(data)[0]
        head = data[2:]
        if reserved is not None and fid == TOKEN_FIELD_ID and ftype == TType.STRING:
            reserved[fid] = yield from _read_value(ftype, None, False, depth, head)
            continue
        spec = fields.get(fid)
        if spec is None or spec[0] != ftype:
            yield from _read_value(ftype, None, True, depth, head)
            continue
        value = yield from _read_value(ftype, spec[2] if len(spec) == 4 else None, False,
                                       depth, head)
        setattr(obj, spec[1], value)


def _read_value(ttype: int, spec: Any, skip: bool, depth: int,
                head: bytes | None = None) -> Parser:
    """Read one value of wire type ``ttype``; with ``skip`` consume it and return None.
    ``head``: its first :data:`_HEAD_SIZES` bytes, when the caller already read them.

    Strings decode as UTF-8 with ``surrogateescape``: invalid bytes survive as lone
    surrogates, which plan validation refuses with an error naming the field.
    """
    if head is None and _HEAD_SIZES[ttype]:
        head = yield _HEAD_SIZES[ttype]
    scalar = _SCALARS.get(ttype)
    if scalar is not None:
        return None if skip else scalar.unpack(head)[0]
    if ttype == TType.STRING:
        data = yield _I32.unpack(head)[0]
        return None if skip else data.decode("utf-8", "surrogateescape")
    if depth <= 0:
        raise MalformedMessage(f"nested deeper than {MAX_DEPTH} levels")
    if ttype == TType.STRUCT:
        obj = None if skip else spec()
        yield from _read_struct(obj, depth - 1)
        return obj
    if ttype == TType.MAP:
        ktype, vtype, size = _MAP_HEAD.unpack(head)
        key_spec, value_spec = (None, None) if skip else spec
        (kwant, kspec), (vwant, vspec) = _split(key_spec), _split(value_spec)
        if size > 0:
            _check_type(ktype)
            _check_type(vtype)
        skip = skip or (size > 0 and (ktype, vtype) != (kwant, vwant))
        result = {}
        for _ in range(size):
            key = yield from _read_value(ktype, kspec, skip, depth - 1)
            value = yield from _read_value(vtype, vspec, skip, depth - 1)
            if not skip:
                result[key] = value
        return None if skip else result
    # LIST or SET
    etype, size = _LIST_HEAD.unpack(head)
    ewant, espec = _split(spec)
    if size > 0:
        _check_type(etype)
    skip = skip or (size > 0 and etype != ewant)
    items = []
    for _ in range(size):
        item = yield from _read_value(etype, espec, skip, depth - 1)
        if not skip:
            items.append(item)
    return None if skip else items


def encode_reply(name: str, seqid: int, result: Any) -> bytes:
    """A REPLY message carrying ``result`` (the method's result struct)."""
    return _encode(name, TMessageType.REPLY, seqid, result)


def encode_exception(name: str, seqid: int, kind: int, message: str) -> bytes:
    """An EXCEPTION message (a ``TApplicationException`` of ``kind``, e.g.
    :data:`UNKNOWN_METHOD`): the call failed outside the method's declared exceptions."""
    return _encode(name, TMessageType.EXCEPTION, seqid, TApplicationException(kind, message))


def _encode(name: str, mtype: int, seqid: int, struct_: Any) -> bytes:
    proto = _REPLY  # synchronous on the loop's thread: one encoder serves every reply
    proto.trans.clean()
    proto.write_message_begin(name, mtype, seqid)
    proto.write_struct(struct_)
    return proto.trans.getvalue()


_REPLY = TBinaryProtocol(TMemoryBuffer())
