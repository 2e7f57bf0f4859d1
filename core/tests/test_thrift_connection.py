"""The Thrift front end's connections as protocols (:mod:`forsun.frontends.thrift_connection`):
calls pipelined in one write, calls that suspend (the redis store), calls arriving in
pieces, and a client that floods calls without reading its replies."""

from __future__ import annotations

import asyncio
import shlex
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from test_thrift_frontend import (
    EXCEPTION,
    ONEWAY,
    REPLY,
    T_I16,
    T_LIST,
    T_STRING,
    Wire,
    as_plan,
    create_timeout_args,
    field,
    message,
    string,
)
from thrift_calls import encode_call

from forsun.frontends import thrift_protocol as tp
from forsun.frontends.thrift import ThriftFrontend
from forsun.idl import load_idl
from forsun.plugins import get_plugin_manager
from forsun.service import Service
from forsun.store.base import INLINE
from forsun.testing.options import make_options

FORSUN = load_idl().Forsun


def key_field(key: str) -> bytes:
    return field(T_STRING, 1, string(key))


# -- the push-style reader ---------------------------------------------------------------------


def reader(free_bytes: int = 64 << 10, budget: int = 64 << 20) -> tp.CallReader:
    return tp.CallReader(FORSUN, tp.Limits(free_bytes=free_bytes,
                                           budget=tp.ByteBudget(budget)))


def test_a_call_fed_byte_by_byte_is_decoded_once_whole():
    calls = reader()
    data = encode_call("createTimeout", 3, key="k", second=5, action="shell",
                       params={"cmd": "true"})
    for byte in data[:-1]:
        calls.feed(bytes([byte]))
        assert calls.next_call() is None
        assert calls.inside_call
    calls.feed(data[-1:])
    call = calls.next_call()
    assert call is not None and (call.name, call.seqid, call.args.key) == ("createTimeout", 3, "k")
    assert not calls.inside_call and calls.next_call() is None


@pytest.mark.parametrize("piece", [1000, 7 << 10, 100 << 10, 1 << 20])
def test_a_large_value_in_pieces_then_a_pipelined_call(piece):
    budget = tp.ByteBudget(4 << 20)
    calls = tp.CallReader(FORSUN, tp.Limits(free_bytes=64 << 10, budget=budget))
    value = "v" * (300 << 10)
    data = (encode_call("createTimeout", 1, key="big", second=5, action="shell",
                        params={"cmd": "true", "pad": value})
            + encode_call("ping", 2))
    found = []
    for start in range(0, len(data), piece):
        calls.feed(data[start:start + piece])
        while (call := calls.next_call()) is not None:
            found.append(call)
        assert calls.buffered <= max(piece, 64 << 10)  # the value has a buffer of its own
    assert [(c.name, c.seqid) for c in found] == [("createTimeout", 1), ("ping", 2)]
    assert found[0].args.params["pad"] == value
    assert budget.available == 4 << 20  # given back once the call was whole


def test_an_unfinished_call_gives_its_budget_back_on_release():
    budget = tp.ByteBudget(1 << 20)
    calls = tp.CallReader(FORSUN, tp.Limits(free_bytes=1 << 10, budget=budget))
    data = encode_call("createTimeout", 1, key="big", second=5, action="shell",
                       params={"pad": "v" * (200 << 10)})
    calls.feed(data[:100 << 10])
    assert calls.next_call() is None
    assert budget.available < 1 << 20
    calls.release()
    assert budget.available == 1 << 20


# -- a forsund on the wire ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def forsund(module_forsunds):
    return module_forsunds.start()


def test_mixed_calls_in_one_write_are_answered_in_order(forsund):
    wire = Wire(forsund.port)
    try:
        wire.sock.sendall(
            message("createTimeout", create_timeout_args("proto:a", 600), seqid=1)
            + message("get", key_field("proto:a"), seqid=2)
            + message("createTimeout", create_timeout_args("proto:b", 601), seqid=3,
                      mtype=ONEWAY)
            + message("noSuchMethod", seqid=4)
            + message("get", key_field("proto:b"), seqid=5)
            + message("ping", seqid=6))
        replies = [wire.read_message() for _ in range(5)]
        assert [(mtype, seqid) for mtype, _, seqid, _ in replies] == [
            (REPLY, 1), (REPLY, 2), (EXCEPTION, 4), (REPLY, 5), (REPLY, 6)]
        assert as_plan(replies[1][3][0])["second"] == 600
        assert as_plan(replies[3][3][0])["second"] == 601
    finally:
        wire.close()


def test_calls_after_a_malformed_one_are_not_answered(forsund):
    wire = Wire(forsund.port)
    try:
        wire.sock.sendall(message("ping", seqid=1) + b"\x7f\xff\xff\xff"
                          + message("ping", seqid=2))
        assert wire.read_message()[2] == 1
        assert wire.closed_by_server()
    finally:
        wire.close()


@pytest.fixture
def redis_port(redis_server) -> int:
    return redis_server().port


@pytest.fixture
def redis_forsund(forsunds, redis_port):
    return forsunds.start("--driver", "redis", "--driver-redis-port", str(redis_port),
                          "--driver-redis-prefix", "proto-test")


def test_calls_that_have_the_redis_store_connect(redis_forsund):
    """Calls of several clients at once make redis-py open connections, under an
    ``asyncio.timeout``, which needs a task: the store makes one for a call started in a
    protocol callback."""
    wires = [Wire(redis_forsund.port) for _ in range(8)]
    try:
        for _round in range(3):
            for i, wire in enumerate(wires):
                wire.sock.sendall(message("createTimeout",
                                          create_timeout_args(f"proto:c{i}", 800 + i), seqid=i))
            for i, wire in enumerate(wires):
                mtype, _, seqid, body = wire.read_message()
                assert (mtype, seqid) == (REPLY, i) and 0 in body, body
                assert as_plan(body[0])["second"] == 800 + i
    finally:
        for wire in wires:
            wire.close()


def test_a_call_that_suspends_then_pipelined_calls(redis_forsund):
    """With the redis store every call waits on Redis: the next ones, sent in the same
    write, are answered after it and see what it stored."""
    wire = Wire(redis_forsund.port)
    try:
        batch = b"".join(
            message("createTimeout", create_timeout_args(f"proto:r{i}", 700 + i), seqid=2 * i)
            + message("get", key_field(f"proto:r{i}"), seqid=2 * i + 1)
            for i in range(20))
        wire.sock.sendall(batch + message("getKeys", key_field("proto:r"), seqid=99))
        for i in range(20):
            mtype, _, seqid, body = wire.read_message()
            assert (mtype, seqid) == (REPLY, 2 * i)
            mtype, _, seqid, body = wire.read_message()
            assert (mtype, seqid) == (REPLY, 2 * i + 1)
            assert as_plan(body[0])["second"] == 700 + i
        mtype, _, seqid, body = wire.read_message()
        assert (mtype, seqid) == (REPLY, 99)
        assert body[0] == (T_LIST, (T_STRING, sorted(f"proto:r{i}" for i in range(20))))
        assert wire.result("ping") == (T_I16, 0)
    finally:
        wire.close()


def test_a_flood_of_calls_never_read_is_bounded_and_blocks_nobody(forsund, tmp_path: Path):
    """A client that sends calls without reading the replies: once its replies fill the
    socket, the server stops taking its calls (so the client's sends block) and goes on
    serving other connections and firing plans."""
    # Calls of 16 KiB (a ping with an unknown field, skipped) with replies of ~16 KiB.
    names = [f"proto:flood:{i:04d}:" + "k" * 200 for i in range(80)]
    setup = Wire(forsund.port)
    try:
        setup.sock.sendall(b"".join(
            message("createTimeout", create_timeout_args(name, 3600), seqid=i)
            for i, name in enumerate(names)))
        for _ in names:
            setup.read_message()
    finally:
        setup.close()
    pad = field(T_STRING, 9, string("p" * (16 << 10)))
    calls = message("getKeys", key_field("proto:flood:"), pad) * 64
    rss_before = forsund.rss()
    flood = socket.create_connection(("127.0.0.1", forsund.port))
    flood.setblocking(False)
    sent, blocked_since = 0, None
    pending = memoryview(b"")
    try:
        while sent < 256 << 20:
            if not pending:
                pending = memoryview(calls)
            try:
                done = flood.send(pending)
                sent += done
                pending = pending[done:]
            except BlockingIOError:
                if blocked_since is None:
                    blocked_since = time.monotonic()
                elif time.monotonic() - blocked_since > 1.0:
                    break
                time.sleep(0.01)
                continue
            blocked_since = None
        assert sent < 64 << 20, f"the server took {sent} bytes of calls never answered"
        assert forsund.rss() - rss_before < 48 << 20
        # Others are served, and plans fire, while the flood is stalled.
        fired = tmp_path / "fired"
        other = Wire(forsund.port)
        try:
            assert other.result("ping") == (T_I16, 0)
            other.result("createTimeout", create_timeout_args(
                "proto:flood-fires", 1, params={"cmd": f"touch {shlex.quote(str(fired))}"}))
        finally:
            other.close()
        deadline = time.monotonic() + 10
        while not fired.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fired.exists()
    finally:
        flood.close()


# -- in process --------------------------------------------------------------------------------


async def _frontend(**options: Any) -> tuple[Service, ThriftFrontend]:
    service = Service(make_options(driver_mem_store_file="", port=0, bind="127.0.0.1", http="",
                                   **options), get_plugin_manager())
    frontend = ThriftFrontend(service)
    await frontend.start()
    return service, frontend


async def _read_replies(reader: asyncio.StreamReader, count: int) -> list[tuple[str, int, Any]]:
    """The next ``count`` replies: (method, seqid, result struct)."""
    from thriftpy2.protocol import TBinaryProtocol
    from thriftpy2.transport import TMemoryBuffer

    data = b""
    while True:
        data += await asyncio.wait_for(reader.read(1 << 16), 5)
        proto = TBinaryProtocol(TMemoryBuffer(data))
        replies = []
        try:
            for _ in range(count):
                name, _, seqid = proto.read_message_begin()
                result = getattr(FORSUN, name + "_result")()
                proto.read_struct(result)
                replies.append((name, seqid, result))
        except Exception:  # not all of them yet
            continue
        return replies


async def test_a_suspending_call_finishes_as_a_task_before_the_next_starts():
    service, frontend = await _frontend()
    order: list[str] = []

    async def slow_ping(args: Any) -> int:
        order.append("slow started")
        await asyncio.sleep(0.05)
        order.append("slow done")
        return 0

    async def get_keys(args: Any) -> list[str]:
        order.append("getKeys")
        return ["x"]

    frontend._methods["ping"] = slow_ping
    frontend._methods["getKeys"] = get_keys
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", frontend.port)
        writer.write(encode_call("ping", 1) + encode_call("getKeys", 2, prefix=""))
        first, second = await _read_replies(reader, 2)
        assert first[:2] == ("ping", 1)
        assert second[:2] == ("getKeys", 2) and second[2].success == ["x"]
        assert order == ["slow started", "slow done", "getKeys"]
        assert service.stats.counters["requesting_count"] == 0
        assert service.stats.counters["requested_count"] == 2
        writer.close()
    finally:
        await frontend.stop()


async def test_stop_lets_a_running_call_answer():
    service, frontend = await _frontend()
    started = asyncio.Event()

    async def slow_ping(args: Any) -> int:
        started.set()
        await asyncio.sleep(0.1)
        return 0

    frontend._methods["ping"] = slow_ping
    reader, writer = await asyncio.open_connection("127.0.0.1", frontend.port)
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", frontend.port)
    writer.write(encode_call("ping", 1))
    await started.wait()
    await frontend.stop()
    assert [reply[:2] for reply in await _read_replies(reader, 1)] == [("ping", 1)]
    assert await asyncio.wait_for(idle_reader.read(), 5) == b""
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert service.stats.counters["connecting_count"] == 0
    writer.close()
    idle_writer.close()


@pytest.mark.parametrize("inline", [True, False])
async def test_a_call_runs_in_the_callback_only_with_an_inline_store(inline):
    """A store that is not ``inline`` may need a task (``asyncio.timeout`` does): its calls
    get one; the mem store's run in the callback that received them."""
    service = Service(make_options(driver_mem_store_file="", port=0, bind="127.0.0.1", http=""),
                      get_plugin_manager())
    assert INLINE in service.store.capabilities
    if not inline:
        service.store.capabilities = service.store.capabilities - {INLINE}
    frontend = ThriftFrontend(service)
    await frontend.start()
    tasks: list[asyncio.Task[Any] | None] = []

    async def get_keys(args: Any) -> list[str]:
        tasks.append(asyncio.current_task())
        return ["x"]

    frontend._methods["getKeys"] = get_keys
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", frontend.port)
        writer.write(encode_call("getKeys", 1, prefix="") + encode_call("getKeys", 2, prefix=""))
        replies = await _read_replies(reader, 2)
        assert [(name, seqid, result.success) for name, seqid, result in replies] == [
            ("getKeys", 1, ["x"]), ("getKeys", 2, ["x"])]
        assert len(tasks) == 2 and all((task is None) == inline for task in tasks)
        writer.close()
    finally:
        await frontend.stop()
