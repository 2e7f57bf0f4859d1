"""The Thrift front end on the wire, against a real forsund child process.

The client here is written independently of forsun's IDL and of thriftpy2: every message is
encoded by hand with ``struct`` (strict binary protocol, buffered transport) and replies are
decoded the same way, so these tests pin the bytes an existing client built from the
original IDL sends and expects (DESIGN 3.2).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from forsun.frontends.thrift import ThriftFrontend, to_thrift_plan
from forsun.plan import Plan
from forsun.plugins import get_plugin_manager
from forsun.service import Service
from forsun.testing.options import make_options

# -- the binary protocol, by hand -------------------------------------------------------------

VERSION_1 = 0x80010000
CALL, REPLY, EXCEPTION, ONEWAY = 1, 2, 3, 4
T_STOP, T_BOOL, T_BYTE, T_DOUBLE, T_I16, T_I32, T_I64 = 0, 2, 3, 4, 6, 8, 10
T_STRING, T_STRUCT, T_MAP, T_SET, T_LIST = 11, 12, 13, 14, 15
STOP = b"\x00"


def i16(value: int) -> bytes:
    return struct.pack("!h", value)


def i32(value: int) -> bytes:
    return struct.pack("!i", value)


def string(text: str) -> bytes:
    data = text.encode("utf-8")
    return i32(len(data)) + data


def string_map(values: dict[str, str]) -> bytes:
    return struct.pack("!bbi", T_STRING, T_STRING, len(values)) + b"".join(
        string(k) + string(v) for k, v in values.items())


def field(ttype: int, fid: int, payload: bytes) -> bytes:
    return struct.pack("!bh", ttype, fid) + payload


def header(name: str, seqid: int, mtype: int = CALL) -> bytes:
    return struct.pack("!I", VERSION_1 | mtype) + string(name) + i32(seqid)


def message(name: str, *fields: bytes, seqid: int = 1, mtype: int = CALL) -> bytes:
    return header(name, seqid, mtype) + b"".join(fields) + STOP


def create_timeout_args(key: str, second: int, count: int = 1, action: str = "shell",
                        params: dict[str, str] | None = None, **fields: int) -> bytes:
    """The ten arguments of createTimeout in id order, as the original IDL numbers them."""
    schedule = [fields.get(name, -1) for name in ("minute", "hour", "day", "month", "week")]
    return b"".join([
        field(T_STRING, 1, string(key)), field(T_I16, 2, i16(second)),
        *(field(T_I16, fid, i16(v)) for fid, v in zip(range(3, 8), schedule, strict=True)),
        field(T_I16, 8, i16(count)), field(T_STRING, 9, string(action)),
        field(T_MAP, 10, string_map(params if params is not None else {"cmd": "true"})),
    ])


def create_args(key: str, second: int, action: str = "shell",
                params: dict[str, str] | None = None, **fields: int) -> bytes:
    schedule = [fields.get(name, -1) for name in ("minute", "hour", "day", "month", "week")]
    return b"".join([
        field(T_STRING, 1, string(key)), field(T_I16, 2, i16(second)),
        *(field(T_I16, fid, i16(v)) for fid, v in zip(range(3, 8), schedule, strict=True)),
        field(T_STRING, 8, string(action)),
        field(T_MAP, 9, string_map(params if params is not None else {"cmd": "true"})),
    ])


class Wire:
    """A raw connection: send bytes, read replies field by field."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def read(self, size: int) -> bytes:
        data = self.file.read(size)
        if len(data) < size:
            raise EOFError(f"wanted {size} bytes, got {len(data)}")
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def read_string(self) -> str:
        return self.read(self.unpack("!i")).decode("utf-8")

    def read_message(self) -> tuple[int, str, int, dict[int, tuple[int, Any]]]:
        word = self.unpack("!I")
        assert word & 0xFFFF0000 == VERSION_1, hex(word)
        name = self.read_string()
        seqid = self.unpack("!i")
        return word & 0xFF, name, seqid, self.read_struct()

    def read_struct(self) -> dict[int, tuple[int, Any]]:
        """Fields in wire order: id -> (type id, value)."""
        fields: dict[int, tuple[int, Any]] = {}
        while (ttype := self.unpack("!b")) != T_STOP:
            fid = self.unpack("!h")
            fields[fid] = (ttype, self.read_value(ttype))
        return fields

    def read_value(self, ttype: int) -> Any:
        if ttype == T_BOOL:
            return self.read(1) != b"\x00"
        scalar = {T_BYTE: "!b", T_I16: "!h", T_I32: "!i", T_I64: "!q", T_DOUBLE: "!d"}
        if ttype in scalar:
            return self.unpack(scalar[ttype])
        if ttype == T_STRING:
            return self.read_string()
        if ttype == T_STRUCT:
            return self.read_struct()
        if ttype == T_MAP:
            ktype, vtype, size = struct.unpack("!bbi", self.read(6))
            return (ktype, vtype, {self.read_value(ktype): self.read_value(vtype)
                                   for _ in range(size)})
        if ttype in (T_LIST, T_SET):
            etype, size = struct.unpack("!bi", self.read(5))
            return (etype, [self.read_value(etype) for _ in range(size)])
        raise AssertionError(f"unexpected type id {ttype}")

    def call(self, name: str, *fields: bytes, seqid: int = 7) -> tuple[int, dict]:
        """Send one call; the reply's message type and struct (name and seqid checked)."""
        self.sock.sendall(message(name, *fields, seqid=seqid))
        mtype, rname, rseqid, body = self.read_message()
        assert (rname, rseqid) == (name, seqid)
        return mtype, body

    def result(self, name: str, *fields: bytes) -> tuple[int, Any]:
        """A successful call's result field 0: (type id, value)."""
        mtype, body = self.call(name, *fields)
        assert mtype == REPLY and 0 in body, body
        return body[0]

    def error(self, name: str, *fields: bytes) -> tuple[int, str]:
        """A call that must fail with the declared ForsunPlanError (result field 1)."""
        mtype, body = self.call(name, *fields)
        assert mtype == REPLY and list(body) == [1], body
        ttype, err = body[1]
        assert ttype == T_STRUCT and [(fid, t) for fid, (t, _) in err.items()] == [
            (1, T_I16), (2, T_STRING)]
        return err[1][1], err[2][1]

    def closed_by_server(self, timeout: float = 5.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


PLAN_FIELDS = [
    (1, T_BOOL, "is_time_out"), (2, T_STRING, "key"), (3, T_I16, "second"),
    (4, T_I16, "minute"), (5, T_I16, "hour"), (6, T_I16, "day"), (7, T_I16, "month"),
    (8, T_I16, "week"), (9, T_I32, "next_time"), (10, T_I16, "status"),
    (11, T_I16, "count"), (12, T_I16, "current_count"), (13, T_I32, "last_timeout"),
    (14, T_STRING, "action"), (15, T_MAP, "params"),
]


def as_plan(value: tuple[int, Any]) -> dict[str, Any]:
    """A ForsunPlan from the wire, checked field by field (ids, types, order)."""
    ttype, fields = value
    assert ttype == T_STRUCT
    assert [(fid, t) for fid, (t, _) in fields.items()] == [(f, t) for f, t, _ in PLAN_FIELDS]
    plan = {name: fields[fid][1] for fid, _, name in PLAN_FIELDS}
    ktype, vtype, params = plan["params"]
    assert (ktype, vtype) == (T_STRING, T_STRING)
    plan["params"] = params
    return plan


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def forsund(module_forsunds):
    return module_forsunds.start()


@pytest.fixture
def wire(forsund):
    conn = Wire(forsund.port)
    yield conn
    conn.close()


def info(port: int) -> dict[str, str]:
    conn = Wire(port)
    try:
        ttype, (ktype, vtype, values) = conn.result("info")
    finally:
        conn.close()
    assert (ttype, ktype, vtype) == (T_MAP, T_STRING, T_STRING)
    return values


# -- calls and replies -------------------------------------------------------------------------


def test_ping_reply_is_byte_exact(wire):
    wire.sock.sendall(message("ping", seqid=42))
    expected = (struct.pack("!I", VERSION_1 | REPLY) + string("ping") + i32(42)
                + field(T_I16, 0, i16(0)) + STOP)
    assert wire.read(len(expected)) == expected


def test_create_timeout_returns_the_plan(wire):
    before = int(time.time())
    plan = as_plan(wire.result("createTimeout", create_timeout_args(
        "wire:timeout", 30, minute=1, count=3, params={"cmd": "echo hi", "cwd": "/tmp"})))
    after = int(time.time())
    assert plan["is_time_out"] is True
    assert plan["key"] == "wire:timeout"
    assert (plan["second"], plan["minute"], plan["hour"], plan["day"]) == (30, 1, -1, -1)
    assert (plan["count"], plan["current_count"], plan["status"]) == (3, 0, 0)
    assert plan["action"] == "shell"
    assert plan["params"] == {"cmd": "echo hi", "cwd": "/tmp"}
    assert plan["last_timeout"] == 0
    assert before + 90 <= plan["next_time"] <= after + 91


def test_create_fixed_time_with_omitted_arguments_uses_the_idl_defaults(wire):
    plan = as_plan(wire.result("create", field(T_STRING, 1, string("wire:fixed")),
                               field(T_I16, 2, i16(7)),
                               field(T_MAP, 9, string_map({"cmd": "true"}))))
    assert plan["is_time_out"] is False
    assert [plan[n] for n in ("second", "minute", "hour", "day", "month", "week")] == [
        7, -1, -1, -1, -1, -1]
    assert plan["action"] == "shell"
    assert plan["count"] == 0
    assert plan["next_time"] % 60 == 7
    assert time.time() - 1 < plan["next_time"] <= time.time() + 61


def test_create_replaces_an_existing_key(wire):
    wire.result("createTimeout", create_timeout_args("wire:replace", 100))
    wire.result("createTimeout", create_timeout_args("wire:replace", 200))
    assert as_plan(wire.result("get", field(T_STRING, 1, string("wire:replace"))))[
        "second"] == 200


def test_create_with_an_empty_key_generates_one(wire):
    plan = as_plan(wire.result("createTimeout", create_timeout_args("", 100)))
    assert plan["key"]
    assert as_plan(wire.result("get", field(T_STRING, 1, string(plan["key"]))))["key"] == \
        plan["key"]


def test_get_then_remove_then_get_fails(wire):
    created = as_plan(wire.result("createTimeout", create_timeout_args("wire:rm", 60)))
    key = field(T_STRING, 1, string("wire:rm"))
    assert as_plan(wire.result("get", key)) == created
    assert as_plan(wire.result("remove", key))["key"] == "wire:rm"
    code, message_ = wire.error("get", key)
    assert code == 1003 and "wire:rm" in message_
    assert wire.error("remove", key)[0] == 1003


def test_get_keys_filters_by_prefix(wire):
    for key in ("keys:b", "keys:a", "other:a"):
        wire.result("createTimeout", create_timeout_args(key, 600))
    assert wire.result("getKeys", field(T_STRING, 1, string("keys:"))) == (
        T_LIST, (T_STRING, ["keys:a", "keys:b"]))
    assert wire.result("getKeys", field(T_STRING, 1, string("nothing:"))) == (
        T_LIST, (T_STRING, []))


def test_get_keys_star_is_every_key_as_in_the_original(wire):
    wire.result("createTimeout", create_timeout_args("star:a", 600))
    _, (_, everything) = wire.result("getKeys", field(T_STRING, 1, string("")))
    assert "star:a" in everything
    assert wire.result("getKeys", field(T_STRING, 1, string("*"))) == (
        T_LIST, (T_STRING, everything))
    assert wire.result("getKeys", field(T_STRING, 1, string("star:* "))) == (
        T_LIST, (T_STRING, ["star:a"]))


def test_get_time_lists_the_plans_due_at_a_second(wire):
    due = as_plan(wire.result("createTimeout", create_timeout_args("wire:time", 3600)))
    ttype, (etype, plans) = wire.result("getTime", field(T_I32, 1, i32(due["next_time"])))
    assert (ttype, etype) == (T_LIST, T_STRUCT)
    assert "wire:time" in [as_plan((T_STRUCT, plan))["key"] for plan in plans]
    ttype, (etype, plans) = wire.result("getTime", field(T_I32, 1, i32(due["next_time"] + 1)))
    assert "wire:time" not in [as_plan((T_STRUCT, plan))["key"] for plan in plans]


def test_get_current_is_a_list_of_plans(wire):
    ttype, (etype, plans) = wire.result("getCurrent")
    assert (ttype, etype) == (T_LIST, T_STRUCT)
    for plan in plans:
        as_plan((T_STRUCT, plan))


INFO_KEYS = (
    "python_version", "forsun_version", "start_time", "cpu_user", "cpu_system", "mem_rss",
    "mem_vms", "current_time", "stores", "current_store", "actions", "extensions", "bind_port",
    "http_bind_port", "connecting_count", "connected_count", "requesting_count", "requested_count",
    "requested_error_count", "http_connecting_count", "http_connected_count",
    "http_requesting_count", "http_requested_count", "http_requested_error_count", "created_count",
    "create_timeouted_count", "removed_count", "plan_count", "timeout_handling_count",
    "timeout_handled_count", "action_executing_count", "action_executed_count",
    "action_executed_error_count", "action_retried_count", "timer_loop_count",
    "timer_loop_ready_error_count",
)


def test_info_has_every_key_the_original_printed(forsund):
    values = info(forsund.port)
    assert set(INFO_KEYS) <= set(values)
    assert values["bind_port"] == f"127.0.0.1:{forsund.port}"
    assert abs(int(values["current_time"]) - time.time()) < 5
    assert int(values["mem_rss"]) > 0
    assert "shell" in values["actions"].split(";")


def test_forsun_call_is_accepted_with_an_empty_reply(wire):
    wire.sock.sendall(message("forsun_call", field(T_STRING, 1, string("k")),
                              field(T_I32, 2, i32(1700000000)),
                              field(T_MAP, 3, string_map({"a": "b"})), seqid=3))
    expected = struct.pack("!I", VERSION_1 | REPLY) + string("forsun_call") + i32(3) + STOP
    assert wire.read(len(expected)) == expected


def test_unknown_method_gets_an_application_exception_and_the_connection_lives(wire):
    mtype, body = wire.call("noSuchMethod", field(T_STRING, 1, string("x")),
                            field(T_LIST, 2, struct.pack("!bi", T_I32, 2) + i32(1) + i32(2)))
    assert mtype == EXCEPTION
    assert body[2] == (T_I32, 1)  # TApplicationException.UNKNOWN_METHOD
    assert "noSuchMethod" in body[1][1]
    assert wire.result("ping") == (T_I16, 0)


def test_old_non_strict_header_is_accepted(wire):
    wire.sock.sendall(string("ping") + struct.pack("!b", CALL) + i32(9) + STOP)
    mtype, name, seqid, body = wire.read_message()
    assert (mtype, name, seqid, body) == (REPLY, "ping", 9, {0: (T_I16, 0)})


def test_a_oneway_call_gets_no_reply(wire):
    wire.sock.sendall(message("createTimeout", create_timeout_args("wire:oneway", 700),
                              seqid=1, mtype=ONEWAY) + message("ping", seqid=2))
    assert wire.read_message() == (REPLY, "ping", 2, {0: (T_I16, 0)})
    assert as_plan(wire.result("get", field(T_STRING, 1, string("wire:oneway"))))["second"] \
        == 700


def test_pipelined_calls_are_answered_in_order(wire):
    wire.sock.sendall(message("ping", seqid=1)
                      + message("getKeys", field(T_STRING, 1, string("nothing:")), seqid=2)
                      + message("ping", seqid=3))
    assert [wire.read_message()[2] for _ in range(3)] == [1, 2, 3]


def test_a_message_dribbled_byte_by_byte_is_decoded(wire, forsund):
    data = message("createTimeout", create_timeout_args("wire:dribble", 500), seqid=5)
    other = Wire(forsund.port)
    try:
        for index, byte in enumerate(data):
            wire.sock.sendall(bytes([byte]))
            if index == len(data) // 2:  # a half-sent message blocks nobody else
                assert other.result("ping") == (T_I16, 0)
            time.sleep(0.001)
    finally:
        other.close()
    mtype, _, seqid, body = wire.read_message()
    assert (mtype, seqid) == (REPLY, 5)
    assert as_plan(body[0])["key"] == "wire:dribble"


# -- errors ------------------------------------------------------------------------------------


def test_error_1002_for_a_date_that_never_exists(wire):
    code, text = wire.error("create", create_args("wire:feb30", 0, minute=0, hour=0, day=30,
                                                  month=2))
    assert code == 1002 and text


def test_error_1003_for_a_missing_key(wire):
    code, text = wire.error("get", field(T_STRING, 1, string("wire:missing")))
    assert code == 1003 and "wire:missing" in text


def test_error_1006_for_an_unknown_action(wire):
    code, text = wire.error("createTimeout",
                            create_timeout_args("wire:act", 5, action="nosuchaction"))
    assert code == 1006 and "nosuchaction" in text


def test_error_1007_when_the_shell_action_lacks_cmd(wire):
    code, text = wire.error("createTimeout", create_timeout_args("wire:nocmd", 5, params={}))
    assert code == 1007 and "cmd" in text


def test_error_1004_for_a_field_out_of_range(wire):
    code, text = wire.error("create", create_args("wire:range", 75))
    assert code == 1004 and "second" in text


def test_invalid_utf8_in_a_key_is_refused_not_fatal(wire):
    bad_key = field(T_STRING, 1, i32(2) + b"\xff\xfe")
    mtype, body = wire.call("createTimeout", bad_key, field(T_I16, 2, i16(5)),
                            field(T_MAP, 10, string_map({"cmd": "true"})))
    assert mtype == REPLY and body[1][1][1][1] == 1004
    assert wire.result("ping") == (T_I16, 0)


def test_request_counters(forsund, wire):
    before = info(forsund.port)
    wire.result("ping")
    wire.error("get", field(T_STRING, 1, string("wire:counted")))
    after = info(forsund.port)
    # the info() call that produced `before` counts too, as does its connection
    assert int(after["requested_count"]) - int(before["requested_count"]) == 3
    assert int(after["requested_error_count"]) - int(before["requested_error_count"]) == 1
    assert int(after["connected_count"]) - int(before["connected_count"]) == 1
    assert int(after["requesting_count"]) == 1  # the info() call itself


# -- robustness ----------------------------------------------------------------------------------


def nested_lists(depth: int) -> bytes:
    return struct.pack("!bi", T_LIST, 1) * depth + struct.pack("!bi", T_I32, 0)


MALFORMED = {
    "garbage": b"GET / HTTP/1.1\r\nHost: forsun\r\n\r\n",
    "bad version": struct.pack("!I", 0x80020001) + string("ping") + i32(1) + STOP,
    "reply instead of call": message("ping", mtype=REPLY),
    "unknown type id": header("ping", 1) + field(99, 1, b"") + STOP,
    "negative string length": header("get", 1) + field(T_STRING, 1, i32(-5)) + STOP,
    "string larger than any message": header("get", 1) + field(T_STRING, 1, i32(1 << 30)),
    "huge list of an unknown type": header("getKeys", 1)
        + field(T_LIST, 9, struct.pack("!bi", 99, (1 << 31) - 1)) + STOP,
    "nested too deeply": header("ping", 1) + field(T_LIST, 1, nested_lists(200)) + STOP,
    "long method name": struct.pack("!I", VERSION_1 | CALL) + i32(100_000) + b"x" * 64,
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_closes_only_that_connection(forsund, data):
    bystander = Wire(forsund.port)
    bad = Wire(forsund.port)
    try:
        bad.sock.sendall(data)
        assert bad.closed_by_server()
        assert bystander.result("ping") == (T_I16, 0)
        fresh = Wire(forsund.port)
        assert fresh.result("ping") == (T_I16, 0)
        fresh.close()
    finally:
        bad.close()
        bystander.close()


def test_a_truncated_message_closes_only_that_connection(forsund):
    bystander = Wire(forsund.port)
    bad = Wire(forsund.port)
    try:
        data = message("createTimeout", create_timeout_args("wire:truncated", 5))
        bad.sock.sendall(data[: len(data) // 2])
        assert bystander.result("ping") == (T_I16, 0)
        bad.sock.shutdown(socket.SHUT_WR)
        assert bad.closed_by_server()
        assert bystander.error("get", field(T_STRING, 1, string("wire:truncated")))[0] == 1003
    finally:
        bad.close()
        bystander.close()


def test_many_concurrent_connections(forsund):
    clients = 200
    connected = threading.Barrier(clients + 1, timeout=60)
    counted = threading.Barrier(clients + 1, timeout=60)

    def client(index: int) -> str:
        conn = Wire(forsund.port, timeout=60)
        try:
            assert conn.result("ping") == (T_I16, 0)
            connected.wait()
            counted.wait()
            key = f"many:{index:03d}"
            conn.result("createTimeout", create_timeout_args(key, 900))
            return as_plan(conn.result("get", field(T_STRING, 1, string(key))))["key"]
        finally:
            conn.close()

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client, index) for index in range(clients)]
        connected.wait()
        open_now = int(info(forsund.port)["connecting_count"])
        counted.wait()
        keys = [future.result() for future in futures]
    assert open_now >= clients + 1
    assert keys == [f"many:{index:03d}" for index in range(clients)]
    conn = Wire(forsund.port)
    try:
        assert conn.result("getKeys", field(T_STRING, 1, string("many:")))[1][1] == keys
    finally:
        conn.close()


# -- conversion ----------------------------------------------------------------------------------


def test_values_beyond_the_wire_types_are_clamped():
    plan = to_thrift_plan(Plan(key="forever", second=1, is_time_out=True, count=0,
                               current_count=100_000, next_time=1 << 33, last_timeout=-(1 << 40)))
    assert plan.current_count == 32767
    assert plan.next_time == (1 << 31) - 1
    assert plan.last_timeout == -(1 << 31)
    assert (plan.second, plan.count, plan.key) == (1, 0, "forever")


@pytest.mark.parametrize("gone", ["reset", "closed"])
async def test_a_connection_gone_before_it_is_served_is_not_left_counted(gone):
    """Its peer went away (or its socket is already closed) before its transport was made."""
    service = Service(make_options(driver_mem_store_file="", port=0, bind="127.0.0.1", http=""),
                      get_plugin_manager())
    frontend = ThriftFrontend(service)
    await frontend.start()
    try:
        conn, peer = socket.socketpair()
        peer.close()
        if gone == "closed":
            conn.close()
        frontend._accepted(conn, None)
        assert service.stats.counters["connecting_count"] == 1  # counted from the accept
        await asyncio.sleep(0.05)  # the transport closes its socket on the next iteration
        assert service.stats.counters["connecting_count"] == 0
        assert service.stats.counters["connected_count"] == 1
        assert conn.fileno() == -1
    finally:
        await frontend.stop()
