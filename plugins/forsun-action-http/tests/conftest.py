"""The shared HTTP receiver (``forsun.testing.receiver``: ``/status/N`` answers N,
``?delay=S`` answers after S seconds, every other path 200) with the paths these tests add:
``/redirect`` redirects to ``/ok``, ``/moved?status=N&to=URL`` to URL with status N; ``/big``
answers 2 MiB; ``/digest`` wants Digest auth for ``digest-user``/``digest-secret``.

Also: ``action``, an HttpAction with the default options, and ``raw_server``, a bare TCP
server whose answers a test writes byte by byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from forsun.testing import ActionTarget
from forsun.testing.options import make_options
from forsun.testing.receiver import HttpReceiver, Reply, Request
from forsun_action_http.action import HttpAction

pytest_plugins = ["forsun.testing.fixtures"]

Answerer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

DIGEST_REALM = "forsun-test"
DIGEST_USER = "digest-user"
DIGEST_PASSWORD = "digest-secret"
DIGEST_NONCE = "8d1f2a0b6c3e4d5f"
BIG_BODY = b"x" * (2 << 20)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _digest_ok(request: Request) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Digest "):
        return False
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[len("Digest "):]))
    ha1 = _md5(f"{DIGEST_USER}:{DIGEST_REALM}:{DIGEST_PASSWORD}")
    ha2 = _md5(f"{request.method}:{fields.get('uri', '')}")
    expected = _md5(f"{ha1}:{fields.get('nonce', '')}:{fields.get('nc', '')}:"
                    f"{fields.get('cnonce', '')}:{fields.get('qop', '')}:{ha2}")
    return fields.get("username") == DIGEST_USER and fields.get("response") == expected


def _digest(request: Request) -> Reply:
    if _digest_ok(request):
        return Reply(200, b"digest ok")
    return Reply(401, b"who are you", {
        "WWW-Authenticate": f'Digest realm="{DIGEST_REALM}", nonce="{DIGEST_NONCE}", '
                            'qop="auth", algorithm=MD5'})


def _moved(request: Request) -> Reply:
    return Reply(int(request.argument("status")), headers={"Location": request.argument("to")})


@pytest.fixture
def http_receiver(http_receiver: HttpReceiver) -> HttpReceiver:
    """The shared receiver with this module's paths."""
    http_receiver.answer("/redirect", Reply(302, headers={"Location": "/ok"}))
    http_receiver.answer("/moved", _moved)
    http_receiver.answer("/big", Reply(200, BIG_BODY))
    http_receiver.answer("/digest", _digest)
    return http_receiver


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


@pytest.fixture
def digest_credentials() -> tuple[str, str]:
    """The user and password ``/digest`` accepts."""
    return DIGEST_USER, DIGEST_PASSWORD


class HttpTarget(ActionTarget):
    """The conformance suite's view of the receiver: ``/ok`` delivers, ``/status/404``
    fails for good, ``/status/503`` asks for a retry, ``?delay=S`` is slow."""

    def __init__(self, receiver: HttpReceiver) -> None:
        self.receiver = receiver

    def ok_params(self) -> dict[str, str]:
        return {"url": self.receiver.url("/ok"), "method": "post", "body": "delivered"}

    def failing_params(self) -> dict[str, str] | None:
        return {"url": self.receiver.url("/status/404")}

    def retry_params(self) -> dict[str, str] | None:
        return {"url": self.receiver.url("/status/503")}

    def slow_params(self, seconds: float) -> dict[str, str] | None:
        return {"url": self.receiver.url(f"/slow?delay={seconds:g}")}

    def missing_params(self) -> dict[str, str] | None:
        return {"method": "post", "body": "no url"}

    async def deliveries(self) -> list[tuple[str, int | None]]:
        return [(r.key, r.ts) for r in self.receiver.delivered()]


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
