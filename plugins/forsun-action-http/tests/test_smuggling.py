"""No param can make a target read a second, smuggled request: framing headers and control
characters are refused when a plan is created and when a stored plan fires, on the direct
path and on aiohttp's; a body that looks like a request arrives as one request's body.

A raw TCP server records the exact bytes each path sends; httptools (llhttp) counts the
requests in them as a target would."""

from __future__ import annotations

import asyncio

import httptools
import pytest

from forsun.action import ActionError
from forsun.errors import ErrorCode, ForsunPlanError
from forsun_action_http.action import FRAMING_HEADERS, parse_call

#: Params that send a request on each path (digest auth is aiohttp's alone; the raw server
#: answers 200 at once, so no Authorization follows).
PATHS = {
    "direct": {},
    "aiohttp": {"auth_mode": "digest", "auth_username": "u", "auth_password": "p"},
}
SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: target\r\n\r\n"
FRAMING_PARAMS = [
    ("header_Transfer-Encoding", "chunked"),
    ("header_transfer-encoding", "gzip, chunked"),
    ("header_Content-Length", "0"),
    ("header_CONTENT-LENGTH", "5"),
    ("header_Connection", "keep-alive"),
    ("header_Keep-Alive", "timeout=5"),
    ("header_Proxy-Connection", "keep-alive"),
    ("header_Upgrade", "h2c"),
    ("header_TE", "trailers"),
    ("header_Trailer", "X-Checksum"),
    ("header_Expect", "100-continue"),
]
CONTROL_CHARS = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0d", "\x0a", "\x1b", "\x1f",
                 "\x7f"]


def on_path(path: str, params: dict[str, str]) -> dict[str, str]:
    """``params`` sent on ``path``, checked to take that path."""
    params = {**params, **PATHS[path]}
    clean = {key: value for key, value in params.items() if not key.startswith("header_")}
    call = parse_call(clean, connect_timeout=5, request_timeout=5, user_agent="ua")
    assert (call.direct is not None) is (path == "direct")
    return params


class Recorder:
    """Keeps every byte a connection sent until it stays quiet for a moment, then answers
    200 and closes; :meth:`requests` parses what came as a server would."""

    def __init__(self) -> None:
        self.received = bytearray()

    async def __call__(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.5)
            except TimeoutError:
                break
            if not chunk:
                break
            self.received += chunk
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()

    def requests(self) -> list[tuple[bytes, bytes]]:
        """``(target, body)`` of each complete request received."""
        found: list[tuple[bytes, bytes]] = []
        current = {"url": b"", "body": b""}

        class Sink:
            def on_url(self, url: bytes) -> None:
                current["url"] += url

            def on_body(self, body: bytes) -> None:
                current["body"] += body

            def on_message_complete(self) -> None:
                found.append((current["url"], current["body"]))
                current.update(url=b"", body=b"")

        httptools.HttpRequestParser(Sink()).feed_data(bytes(self.received))
        return found


@pytest.mark.parametrize(("param", "value"), FRAMING_PARAMS)
def test_framing_headers_are_refused_when_a_plan_is_created(action, param, value):
    with pytest.raises(ForsunPlanError) as refused:
        action.validate({"url": "http://h/", "method": "post", "body": SMUGGLED,
                         param: value})
    assert refused.value.code == ErrorCode.STORE_FAILED
    assert f"params.{param}" in refused.value.message
    assert "frames" in refused.value.message


def test_every_framing_header_is_covered():
    assert {param[len("header_"):].lower() for param, _ in FRAMING_PARAMS} == FRAMING_HEADERS


def test_host_may_be_set(action):
    """Host routes the request (a virtual host reached by its address); it frames nothing."""
    action.validate({"url": "http://127.0.0.1/", "header_Host": "shop.example"})


@pytest.mark.parametrize("char", CONTROL_CHARS)
@pytest.mark.parametrize("param", ["header_X-A", "user_agent"])
def test_control_characters_in_header_values_are_refused(action, param, char):
    with pytest.raises(ForsunPlanError) as refused:
        action.validate({"url": "http://h/", param: f"a{char}b"})
    assert refused.value.code == ErrorCode.STORE_FAILED
    assert f"params.{param}" in refused.value.message


@pytest.mark.parametrize("name", ["X\x0bA", "X A", "X\tA", "X:A", "X\x7f", "", "X\u00e9"])
def test_header_names_must_be_tokens(action, name):
    with pytest.raises(ForsunPlanError, match="not a valid header name"):
        action.validate({"url": "http://h/", f"header_{name}": "v"})


def test_a_tab_in_a_header_value_is_kept(action):
    action.validate({"url": "http://h/", "header_X-A": "a\tb", "user_agent": "ua\t1"})


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("param", "value"), FRAMING_PARAMS[:3] + FRAMING_PARAMS[4:5])
async def test_a_stored_plan_with_a_framing_header_sends_nothing(action, make_firing,
                                                                 raw_server, path, param,
                                                                 value):
    recorder = Recorder()
    async with raw_server(recorder) as (base, accepted):
        params = on_path(path, {"url": f"{base}/hook", "method": "post", "body": SMUGGLED,
                                param: value})
        with pytest.raises(ActionError) as failure:
            await action.execute(make_firing(params))
    assert not failure.value.retry
    assert f"params.{param}" in str(failure.value)
    assert (accepted[0], bytes(recorder.received)) == (0, b"")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x1b", "\x7f"])
async def test_a_stored_plan_with_a_control_character_sends_nothing(action, make_firing,
                                                                    raw_server, path, char):
    recorder = Recorder()
    async with raw_server(recorder) as (base, accepted):
        params = on_path(path, {"url": f"{base}/hook", "header_X-A": f"a{char}b"})
        with pytest.raises(ActionError) as failure:
            await action.execute(make_firing(params))
    assert not failure.value.retry
    assert "params.header_X-A" in str(failure.value)
    assert (accepted[0], bytes(recorder.received)) == (0, b"")


@pytest.mark.parametrize("path", PATHS)
async def test_a_key_with_a_control_character_is_not_sent(action, make_firing, raw_server,
                                                          path):
    """The core refuses CR, LF and NUL in keys; the other control characters cannot travel
    in X-FORSUN-KEY either."""
    recorder = Recorder()
    async with raw_server(recorder) as (base, accepted):
        params = on_path(path, {"url": f"{base}/hook"})
        with pytest.raises(ActionError) as failure:
            await action.execute(make_firing(params, key="order\x0b7"))
    assert not failure.value.retry
    assert "X-FORSUN-KEY" in str(failure.value)
    assert (accepted[0], bytes(recorder.received)) == (0, b"")


@pytest.mark.parametrize("path", PATHS)
async def test_a_body_that_looks_like_a_request_arrives_as_one_body(action, make_firing,
                                                                    raw_server, path):
    recorder = Recorder()
    async with raw_server(recorder) as (base, _):
        params = on_path(path, {"url": f"{base}/hook", "method": "post", "body": SMUGGLED,
                                "header_X-Note": "chunked"})
        await action.execute(make_firing(params))
    assert recorder.requests() == [(b"/hook", SMUGGLED.encode())]
    head = bytes(recorder.received).split(b"\r\n\r\n", 1)[0].lower()
    assert b"transfer-encoding" not in head
    assert head.count(b"content-length:") == 1
