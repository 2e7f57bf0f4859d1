"""The Thrift decoder's fast path (a scan, then thriftpy2's C protocol on exactly the
call's bytes) against the generator decoder: on valid, mutated, truncated and hostile
input, whatever the fast path accepts, the generator decoder reads the same way (same
call, same end); whatever it refuses is left to the generator decoder."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from thrift_calls import encode_call, mutated
from thriftpy2.thrift import TType

from forsun.frontends import thrift_protocol as tp
from forsun.idl import TOKEN_FIELD_ID, load_idl

FORSUN = load_idl().Forsun


CREATE = encode_call("createTimeout", key="k" * 20, second=3600, count=1, action="http",
                     params={"url": "http://127.0.0.1:9/never", "method": "post"})
VALID = [CREATE, encode_call("ping"), encode_call("getKeys", prefix="fz:"),
         encode_call("create", key="b", second=0, minute=0, hour=3, day=1, month=1, week=-1,
                     action="shell", params={"cmd": "true"})]
TOKEN = struct.pack("!bhi", TType.STRING, TOKEN_FIELD_ID, 6) + b"secret"


def generator_decode(data: bytes) -> tuple[tp.Call, int] | None:
    """The generator decoder's reading of ``data``: the call and where it ends, or None
    (malformed, or not whole)."""
    reserved: dict[int, Any] = {}
    parser = tp._read_call(FORSUN, reserved)
    pos = 0
    try:
        size = next(parser)
        while True:
            if size < 0 or pos + size > len(data):
                return None
            chunk, pos = data[pos:pos + size], pos + size
            size = parser.send(chunk)
    except StopIteration as done:
        return done.value, pos
    except tp.MalformedMessage:
        return None


def fields(args: Any) -> dict[str, Any]:
    """The args' fields; an empty container counts as absent (a container of the wrong
    element types is skipped: None in one decoder, empty in the other; both mean none)."""
    return {name: value for name, value in vars(args).items() if value not in (None, {}, [])}


def check(data: bytes) -> bool:
    """True when the fast path took the call (and read it as the generator decoder)."""
    fast = tp._whole_call(data, 0, len(data), FORSUN)
    if fast is None:
        return False
    slow = generator_decode(data)
    assert slow is not None, data
    (ours, end), (theirs, their_end) = fast, slow
    assert (ours.name, ours.type, ours.seqid, ours.token, end) == \
        (theirs.name, theirs.type, theirs.seqid, theirs.token, their_end)
    assert fields(ours.args) == fields(theirs.args)
    return True


def test_a_create_timeout_takes_the_fast_path():
    assert check(CREATE)
    call, end = tp._whole_call(CREATE + b"more", 0, len(CREATE) + 4, FORSUN)
    assert end == len(CREATE) and call.args.params["method"] == "post"


def test_the_token_field_is_read_apart():
    data = CREATE[:-1] + TOKEN + b"\x00"
    assert check(data)
    call, _ = tp._whole_call(data, 0, len(data), FORSUN)
    assert call.token == "secret" and "_forsun_token" not in vars(call.args)


def test_what_it_leaves_to_the_generator_decoder():
    for data in (CREATE[:-1],  # not whole
                 CREATE.replace(b"post", b"p\xffst"),  # not UTF-8: surrogateescape there
                 encode_call("ping").replace(b"ping", b"pong"),  # no such method
                 encode_call("ping")[:-1] + struct.pack("!bhbbi", TType.MAP, 40, 99, 99,
                                                        2**31 - 1) + b"\x00"):
        assert tp._whole_call(data, 0, len(data), FORSUN) is None


def test_deep_nesting_is_left_to_the_generator_decoder():
    nested = struct.pack("!bh", TType.STRUCT, 50) * 40 + b"\x00" * 41
    data = encode_call("ping")[:-1] + nested
    assert tp._whole_call(data, 0, len(data), FORSUN) is None
    assert generator_decode(data) is None


def test_the_end_bounds_the_scan():
    assert tp._whole_call(CREATE, 0, len(CREATE) - 1, FORSUN) is None


@settings(max_examples=2000, deadline=None)
@given(message=st.sampled_from(VALID), data=st.data())
def test_mutated_calls_read_alike(message, data):
    check(mutated(message, data))


_WIRE = [TType.BOOL, TType.BYTE, TType.I16, TType.I32, TType.I64, TType.DOUBLE,
         TType.STRING, TType.STRUCT, TType.MAP, TType.SET, TType.LIST, 1, 5, 99]


@settings(max_examples=1000, deadline=None)
@given(method=st.sampled_from(["createTimeout", "getKeys", "forsun_call"]),
       field_types=st.lists(st.sampled_from(_WIRE), max_size=12),
       payload=st.binary(max_size=64))
def test_arguments_of_any_type_read_alike(method, field_types, payload):
    """Fields of any (also invalid) type over random payload bytes."""
    body = b"".join(struct.pack("!bh", ttype, fid) + payload[fid:fid + 9]
                    for fid, ttype in enumerate(field_types, 1))
    check(encode_call(method)[:-1] + body + b"\x00")
