"""The direct path (plain http:// on our own keep-alive connections): what it takes, what it
leaves to aiohttp, redirects, and servers that answer oddly (a raw asyncio server)."""

from __future__ import annotations

import asyncio

import pytest
from yarl import URL

from forsun.action import ActionError
from forsun.testing.options import make_options
from forsun_action_http.action import HttpAction, parse_call
from forsun_action_http.direct import Pool, request_head


def call(params: dict[str, str]):
    return parse_call(params, connect_timeout=5, request_timeout=5, user_agent="ua")


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def test_plain_http_goes_direct_with_aiohttps_framing():
    get = call({"url": "http://h:8080/p?q=1"}).direct
    assert get is not None
    assert get.startswith(b"GET /p?q=1 HTTP/1.1\r\nHost: h:8080\r\n")
    assert b"Accept: */*\r\n" in get and b"Content-Length" not in get
    assert b"Content-Length: 0\r\n" in call({"url": "http://h/", "method": "delete"}).direct
    post = call({"url": "http://h/", "method": "post", "body": "é"}).direct
    assert b"Content-Length: 2\r\n" in post
    assert b"Content-Type: application/x-www-form-urlencoded\r\n" in post
    own_host = call({"url": "http://h/", "header_Host": "other"}).direct
    assert b"Host: other\r\n" in own_host and b"Host: h" not in own_host


@pytest.mark.parametrize("params", [
    {"url": "https://h/"},
    {"url": "http://h/", "method": "head"},
    {"url": "http://h/", "auth_mode": "digest", "auth_username": "u"},
])
def test_what_the_direct_path_leaves_to_aiohttp(params):
    assert call(params).direct is None


def test_request_head_keeps_the_headers_in_order():
    head = request_head("PUT", URL("http://[::1]:81/x"), [("A", "1"), ("B", "2")], None)
    assert head == (b"PUT /x HTTP/1.1\r\nHost: [::1]:81\r\nA: 1\r\nB: 2\r\nAccept: */*\r\n"
                    b"Content-Length: 0\r\n")


@pytest.mark.parametrize(("status", "method", "then"), [
    (303, "post", "GET"), (302, "post", "GET"), (301, "post", "GET"),
    (302, "put", "PUT"), (307, "post", "POST"), (308, "post", "POST")])
async def test_redirect_hops_change_the_method_as_aiohttp_does(action, http_receiver,
                                                               make_firing, status, method,
                                                               then):
    url = http_receiver.url(f"/moved?status={status}&to=/ok")
    await action.execute(make_firing({"url": url, "method": method, "body": "b"}))
    first, second = http_receiver.requests
    assert (first.method, first.status) == (method.upper(), status)
    assert (second.method, second.path, second.status) == (then, "/ok", 200)
    assert second.body == (b"b" if then != "GET" else b"")
    assert second.headers["X-Forsun-Key"] == "plan-key"


async def test_credentials_stay_on_their_origin(action, http_receiver, make_firing):
    other_origin = http_receiver.url("/ok").replace("127.0.0.1", "localhost")
    params = {"auth_username": "u", "auth_password": "p"}
    await action.execute(make_firing({"url": http_receiver.url("/moved?status=302&to=/ok"),
                                      **params}))
    await action.execute(make_firing({
        "url": http_receiver.url(f"/moved?status=302&to={other_origin}"), **params}))
    authorized = ["Authorization" in r.headers for r in http_receiver.requests]
    assert authorized == [True, True, True, False]


async def test_redirect_to_a_non_http_location_fails_without_retry(action, http_receiver,
                                                                  make_firing):
    with pytest.raises(ActionError) as failure:
        await action.execute(make_firing(
            {"url": http_receiver.url("/moved?status=302&to=ftp://h/x")}))
    assert not failure.value.retry
    assert "ftp://h/x" in str(failure.value)


async def test_an_answer_ending_with_its_connection(action, make_firing, raw_server):
    async def answer(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 503 Busy\r\n\r\ntry later")
        await writer.drain()

    async with raw_server(answer) as (base, accepted):
        for _ in range(2):
            with pytest.raises(ActionError) as failure:
                await action.execute(make_firing({"url": f"{base}/x"}))
            assert failure.value.retry
            assert "HTTP 503 Busy: try later" in str(failure.value)
    assert accepted[0] == 2  # a connection that ended its answer is not used again


async def test_interim_answers_are_skipped(action, make_firing, raw_server):
    async def answer(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n"
                     b"HTTP/1.1 404 Gone\r\nContent-Length: 4\r\n\r\ngone")
        await writer.drain()

    async with raw_server(answer) as (base, _):
        with pytest.raises(ActionError, match="HTTP 404 Gone: gone") as failure:
            await action.execute(make_firing({"url": f"{base}/x"}))
    assert not failure.value.retry


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
                                   b"NOT HTTP AT ALL\r\n\r\n"])
async def test_no_complete_answer_asks_for_a_retry(action, make_firing, raw_server, reply):
    async def answer(reader, writer):
        await read_request(reader)
        writer.write(reply)
        await writer.drain()

    async with raw_server(answer) as (base, _):
        with pytest.raises(ActionError) as failure:
            await action.execute(make_firing({"url": f"{base}/x"}))
    assert failure.value.retry
    assert f"GET {base}/x" in str(failure.value)


async def test_a_connection_the_server_closed_while_idle_is_not_used(action, make_firing,
                                                                   raw_server):
    async def answer(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()  # then close: the server's keep-alive timeout, at once

    async with raw_server(answer) as (base, accepted):
        for _ in range(3):
            await action.execute(make_firing({"url": f"{base}/x"}))
            await asyncio.sleep(0.05)
    assert accepted[0] == 3


async def test_a_firing_that_timed_out_waiting_for_a_connection_gives_nothing_away(
        http_receiver, make_firing):
    action = HttpAction(make_options(action_http_max_clients=1))
    try:
        slow = asyncio.create_task(action.execute(make_firing(
            {"url": http_receiver.url("/slow?delay=0.5")}, key="slow")))
        await asyncio.sleep(0.1)
        with pytest.raises(ActionError, match=r"within 0\.1s"):
            await action.execute(make_firing({"url": http_receiver.url("/ok"),
                                              "request_timeout": "0.1"}, key="waited"))
        await slow
        await action.execute(make_firing({"url": http_receiver.url("/ok")}, key="after"))
    finally:
        await action.close()
    assert [r.headers["X-Forsun-Key"] for r in http_receiver.delivered()] == ["slow", "after"]
    assert http_receiver.connections == 1


async def test_close_ends_a_busy_connection_once_its_answer_is_in(action, make_firing,
                                                                 raw_server):
    ended = asyncio.Event()

    async def answer(reader, writer):
        await read_request(reader)
        await asyncio.sleep(0.2)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        if await reader.read() == b"":  # the client closed its end
            ended.set()

    async with raw_server(answer) as (base, _):
        firing = asyncio.create_task(action.execute(make_firing({"url": f"{base}/x"})))
        await asyncio.sleep(0.1)
        await action.close()
        await firing
        await asyncio.wait_for(ended.wait(), 2)


@pytest.mark.parametrize("slot_first", [False, True])
async def test_a_waiter_cancelled_as_its_slot_frees_leaves_the_count_right(slot_first):
    pool = Pool("127.0.0.1", 9, limit=1, snippet=10, drain_limit=100)
    pool.open = 1  # the one connection allowed is busy
    waiting = asyncio.create_task(pool.request(b"GET / HTTP/1.1\r\n\r\n", 1.0))
    await asyncio.sleep(0)
    if slot_first:  # the busy connection ends before the waiter sees its cancellation
        pool._slot_freed()
        waiting.cancel()
    else:
        waiting.cancel()
        pool._slot_freed()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert pool.open == 0
