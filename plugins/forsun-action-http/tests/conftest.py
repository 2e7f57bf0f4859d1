"""A real Tornado HTTP server that records what the http action sends.

Also: ``action``, an HttpAction with the default options, and ``raw_server``, a bare TCP
server whose answers a test writes byte by byte.

Paths: ``/ok`` answers 200; ``/status/N`` answers N; ``/slow?seconds=S`` answers 200 after S
seconds; ``/redirect`` redirects to ``/ok``, ``/moved?status=N&to=URL`` to URL with
status N; ``/big`` answers 2 MiB; ``/digest`` wants Digest
auth for ``digest-user``/``digest-secret``. Every request is recorded, with the number of the
TCP connection it came on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import attrs
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

from forsun import Plan
from forsun.action import Firing
from forsun.testing import ActionTarget
from forsun.testing.fixtures import pytest_configure  # noqa: F401 - the conformance marker
from forsun.testing.options import make_options
from forsun_action_http.action import HttpAction

Answerer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

DIGEST_REALM = "forsun-test"
DIGEST_USER = "digest-user"
DIGEST_PASSWORD = "digest-secret"
DIGEST_NONCE = "8d1f2a0b6c3e4d5f"
BIG_BODY = b"x" * (2 << 20)


@attrs.define
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    connection: int
    #: 0 until answered; stays 0 when the client gave up first.
    status: int = 0


class Receiver:
    """What the server saw; ``url(path)`` is the address of a path on it."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.connections = 0
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def delivered(self) -> list[Recorded]:
        """Requests answered with a 2xx."""
        return [r for r in self.requests if 200 <= r.status < 300]


class _CountingServer(tornado.httpserver.HTTPServer):
    """Numbers the TCP connections it accepts (``receiver`` is set after construction:
    Tornado's Configurable builds servers through ``initialize``)."""

    receiver: Receiver

    def handle_stream(self, stream, address) -> None:
        self.receiver.connections += 1
        stream.forsun_connection = self.receiver.connections
        super().handle_stream(stream, address)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _digest_ok(request) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Digest "):
        return False
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[len("Digest "):]))
    ha1 = _md5(f"{DIGEST_USER}:{DIGEST_REALM}:{DIGEST_PASSWORD}")
    ha2 = _md5(f"{request.method}:{fields.get('uri', '')}")
    expected = _md5(f"{ha1}:{fields.get('nonce', '')}:{fields.get('nc', '')}:"
                    f"{fields.get('cnonce', '')}:{fields.get('qop', '')}:{ha2}")
    return fields.get("username") == DIGEST_USER and fields.get("response") == expected


class _Handler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS")

    def initialize(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.closed = asyncio.Event()

    def on_connection_close(self) -> None:
        self.closed.set()

    async def _handle(self, path: str) -> None:
        request = self.request
        record = Recorded(request.method, request.path, request.query, dict(request.headers),
                          request.body, getattr(request.connection.stream,
                                                "forsun_connection", 0))
        self.receiver.requests.append(record)
        status, body = await self._answer(path)
        if self.closed.is_set():
            return
        record.status = status
        self.set_status(status)
        if request.method != "HEAD":
            self.write(body)

    async def _answer(self, path: str) -> tuple[int, bytes]:
        if path == "ok":
            return 200, b"ok"
        if match := re.fullmatch(r"status/(\d+)", path):
            code = int(match.group(1))
            return code, f"answer {code}".encode()
        if path == "slow":
            # A client that gave up closes the connection: stop waiting then.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), float(self.get_argument("seconds")))
            return 200, b"slow"
        if path == "redirect":
            self.set_header("Location", "/ok")
            return 302, b""
        if path == "moved":
            self.set_header("Location", self.get_argument("to"))
            return int(self.get_argument("status")), b""
        if path == "big":
            return 200, BIG_BODY
        if path == "digest":
            if _digest_ok(self.request):
                return 200, b"digest ok"
            self.set_header("WWW-Authenticate", f'Digest realm="{DIGEST_REALM}", '
                                                f'nonce="{DIGEST_NONCE}", qop="auth", '
                                                'algorithm=MD5')
            return 401, b"who are you"
        return 404, b"no such path"

    get = post = put = delete = head = patch = options = _handle

    def check_xsrf_cookie(self) -> None:
        """The receiver is an API endpoint: no XSRF check."""


@pytest.fixture
async def http_receiver():
    receiver = Receiver()
    app = tornado.web.Application([(r"/(.*)", _Handler, {"receiver": receiver})])
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    receiver.port = sockets[0].getsockname()[1]
    server = _CountingServer(app)
    server.receiver = receiver
    server.add_sockets(sockets)
    yield receiver
    server.stop()
    await server.close_all_connections()


@pytest.fixture
def refused_url() -> str:
    """A URL on which nothing listens."""
    sock = tornado.netutil.bind_sockets(0, "127.0.0.1")[0]
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/nothing"


@pytest.fixture
def stalled_url():
    """A URL whose server never accepts: its listen queue is full, so connecting hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield f"http://127.0.0.1:{port}/stalled"
    for sock in [*fillers, server]:
        sock.close()


def firing(params: dict[str, str], key: str = "plan-1", ts: int = 1_700_000_000) -> Firing:
    """A first attempt of ``key`` due at ``ts`` with ``params``."""
    plan = Plan(key=key, action="http", params=dict(params), next_time=ts)
    return Firing(key=key, ts=ts, params=plan.params, plan=plan)


@pytest.fixture
def digest_credentials() -> tuple[str, str]:
    """The user and password ``/digest`` accepts."""
    return DIGEST_USER, DIGEST_PASSWORD


@pytest.fixture
def make_firing():
    return firing


class HttpTarget(ActionTarget):
    """The conformance suite's view of :class:`Receiver`: ``/ok`` delivers, ``/status/404``
    fails for good, ``/status/503`` asks for a retry, ``/slow`` is slow."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def ok_params(self) -> dict[str, str]:
        return {"url": self.receiver.url("/ok"), "method": "post", "body": "delivered"}

    def failing_params(self) -> dict[str, str] | None:
        return {"url": self.receiver.url("/status/404")}

    def retry_params(self) -> dict[str, str] | None:
        return {"url": self.receiver.url("/status/503")}

    def slow_params(self, seconds: float) -> dict[str, str] | None:
        return {"url": self.receiver.url(f"/slow?seconds={seconds:g}")}

    def missing_params(self) -> dict[str, str] | None:
        return {"method": "post", "body": "no url"}

    async def deliveries(self) -> list[tuple[str, int | None]]:
        return [(r.headers["X-Forsun-Key"], int(r.headers["X-Forsun-Timestamp"]))
                for r in self.receiver.delivered()]


@pytest.fixture
def http_target(http_receiver) -> HttpTarget:
    return HttpTarget(http_receiver)


@pytest.fixture
async def action():
    action = HttpAction(make_options())
    yield action
    await action.close()


@contextlib.asynccontextmanager
async def _raw_server(answer: Answerer) -> AsyncIterator[tuple[str, list[int]]]:
    accepted = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        with contextlib.suppress(ConnectionError):
            await answer(reader, writer)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", accepted


@pytest.fixture
def raw_server():
    """``async with raw_server(answer) as (base_url, accepted)``: a TCP server answering
    each connection with ``answer(reader, writer)``; ``accepted`` is a one-item list, the
    number of connections accepted so far."""
    return _raw_server
