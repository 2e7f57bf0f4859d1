"""A real HTTP/1.1 server for tests that records every request it receives.

:class:`HttpReceiver` listens on a free port of 127.0.0.1 (https with an ``ssl_context``),
serving keep-alive connections from a thread and event loop of its own, so a test may
block, sleep or run its own event loop meanwhile. Each request is kept as a
:class:`Request`: method, path, query, headers, raw body bytes, the TCP connection it came
on, the client certificate's names and ``arrived``, the ``time.time()`` at which its head
was read off the socket, before any handling, so ``arrived - ts`` is a firing's lateness.

How it answers a request for ``PATH``:

- the replies given by ``answer(PATH, ...)``, in turn (the last one repeats); a reply may
  be a callable of the :class:`Request`;
- else ``/status/N``: status N, body ``answer N``;
- else the receiver's ``default`` (200, empty body).

A ``delay=SECONDS`` query argument holds the answer back that long; the wait ends early
when the client hangs up (the request then keeps ``reply`` None) or the receiver closes.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

import attrs
import pytest
import tornado.httpserver
import tornado.httputil
import tornado.iostream
import tornado.netutil
from tornado.platform.asyncio import AsyncIOLoop

HOST = "127.0.0.1"
_STATUS_PATH = re.compile(r"/status/(\d+)")


@attrs.frozen
class Reply:
    """An answer: status, body, and headers beyond ``Content-Length``."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Reply:
        """``value`` as a JSON body."""
        return cls(status, json.dumps(value).encode(), {"Content-Type": "application/json"})


@attrs.define
class Request:
    """One request as the receiver got it; ``reply`` is what it answers (None while a
    ``delay`` holds it back, and for good when the client hung up meanwhile)."""

    method: str
    path: str
    query: str
    headers: tornado.httputil.HTTPHeaders
    body: bytes
    #: time.time() when the request's head was read.
    arrived: float
    #: Number of the TCP connection it came on, 1 for the first one accepted.
    connection: int
    #: The names (subjectAltName values, comma-joined) of the client's TLS certificate.
    peer: str = ""
    reply: Reply | None = None

    @property
    def status(self) -> int:
        """The status answered, 0 while unanswered."""
        return self.reply.status if self.reply else 0

    @property
    def key(self) -> str:
        """The ``X-FORSUN-KEY`` header forsun's http action sends ("" without it)."""
        return self.headers.get("X-Forsun-Key", "")

    @property
    def ts(self) -> int | None:
        """The due second of ``X-FORSUN-TIMESTAMP`` (None without it)."""
        stamp = self.headers.get("X-Forsun-Timestamp")
        return None if stamp is None else int(stamp)

    @property
    def late(self) -> float:
        """Seconds between the due second and the arrival."""
        assert self.ts is not None, f"{self.path} carries no X-FORSUN-TIMESTAMP"
        return self.arrived - self.ts

    def argument(self, name: str, default: str | None = None) -> str | None:
        """The first value of query argument ``name``."""
        return parse_qs(self.query).get(name, [default])[0]


#: A reply, or a callable computing one from the request.
Answer = Reply | Callable[[Request], Reply]


class HttpReceiver:
    """The server; use it as a context manager, or :meth:`start` and :meth:`close`."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None,
                 default: Reply = Reply()) -> None:
        self.default = default
        self.scheme = "https" if ssl_context else "http"
        self.port = 0
        #: TCP connections accepted so far.
        self.connections = 0
        self._ssl_context = ssl_context
        self._requests: list[Request] = []
        self._arrived = threading.Condition()
        self._answers: dict[str, list[Answer]] = {}
        self._numbers: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._ioloop: AsyncIOLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: tornado.httpserver.HTTPServer | None = None
        self._closing: asyncio.Event | None = None
        self._answering: set[asyncio.Task[None]] = set()

    # -- what the test uses ---------------------------------------------------------------

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://{HOST}:{self.port}{path}"

    def answer(self, path: str, *answers: Answer) -> None:
        """Answer requests for ``path`` with ``answers`` in turn; the last one repeats."""
        self._answers[path] = list(answers)

    @property
    def requests(self) -> list[Request]:
        """Every request so far, in arrival order."""
        with self._arrived:
            return list(self._requests)

    def to(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    def delivered(self) -> list[Request]:
        """Requests answered with a 2xx status."""
        return [request for request in self.requests if 200 <= request.status < 300]

    def occurrences(self) -> collections.Counter[tuple[str, int | None]]:
        """How often each ``(key, due second)`` arrived."""
        return collections.Counter((request.key, request.ts) for request in self.requests)

    def wait(self, count: int = 1, *, path: str | None = None,
             timeout: float = 10.0) -> list[Request]:
        """The requests (to ``path``, if given) once there are ``count`` of them; fails the
        test after ``timeout`` seconds."""
        def matching() -> list[Request]:
            return [r for r in self._requests if path is None or r.path == path]

        with self._arrived:
            if not self._arrived.wait_for(lambda: len(matching()) >= count, timeout):
                pytest.fail(f"{len(matching())} of {count} requests to {path or 'any path'} "
                            f"arrived within {timeout:g}s", pytrace=False)
            return matching()

    async def wait_async(self, count: int = 1, *, path: str | None = None,
                         timeout: float = 10.0) -> list[Request]:
        """:meth:`wait` for a coroutine: the test's event loop keeps running."""
        return await asyncio.to_thread(self.wait, count, path=path, timeout=timeout)

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> HttpReceiver:
        self._ioloop = AsyncIOLoop()
        self._thread = threading.Thread(target=self._ioloop.start, name="http-receiver",
                                        daemon=True)
        self._thread.start()
        self._run(self._listen())
        return self

    def close(self) -> None:
        """Answer the requests still held back at once, then stop."""
        if self._ioloop is None or self._thread is None:
            return
        self._run(self._shutdown())
        self._ioloop.add_callback(self._ioloop.stop)
        self._thread.join(10)
        self._ioloop.close(all_fds=True)
        self._ioloop = None

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, coroutine: Any) -> Any:
        assert self._ioloop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._ioloop.asyncio_loop).result(30)

    async def _listen(self) -> None:
        self._closing = asyncio.Event()
        # A deep backlog: a burst of a thousand firings connects at once.
        sockets = tornado.netutil.bind_sockets(0, HOST, backlog=4096)
        self.port = sockets[0].getsockname()[1]
        self._server = _Server(_Exchanges(self), ssl_options=self._ssl_context)
        self._server.add_sockets(sockets)

    async def _shutdown(self) -> None:
        assert self._server is not None and self._closing is not None
        self._closing.set()
        if self._answering:
            await asyncio.wait(self._answering, timeout=5)
        self._server.stop()
        await self._server.close_all_connections()

    # -- in the receiver's thread -----------------------------------------------------------

    def _accepted(self, stream: tornado.iostream.IOStream) -> None:
        self.connections += 1
        self._numbers[stream] = self.connections

    def _received(self, exchange: _Exchange) -> None:
        connection = exchange.connection
        start_line = exchange.start_line
        path, _, query = start_line.path.partition("?")
        request = Request(start_line.method, path, query, exchange.headers,
                          bytes(exchange.body), exchange.arrived,
                          self._numbers.get(connection.stream, 0), _peer(connection.stream))
        reply = self._reply_to(request)
        delay = float(request.argument("delay") or 0)
        if not delay:
            # Whoever sees the request sees what it was answered.
            request.reply = reply
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()
        if not delay:
            _write(request, reply, connection)
            return
        task = asyncio.ensure_future(self._answer_later(request, reply, delay, connection))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer_later(self, request: Request, reply: Reply, delay: float,
                            connection: Any) -> None:
        assert self._closing is not None
        hung_up = asyncio.Event()
        connection.set_close_callback(hung_up.set)
        waits = [asyncio.ensure_future(event.wait()) for event in (hung_up, self._closing)]
        await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        if not hung_up.is_set():
            request.reply = reply
            _write(request, reply, connection)

    def _reply_to(self, request: Request) -> Reply:
        answers = self._answers.get(request.path)
        if answers:
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            return answer if isinstance(answer, Reply) else answer(request)
        if status := _STATUS_PATH.fullmatch(request.path):
            return Reply(int(status[1]), f"answer {status[1]}".encode())
        return self.default


def _write(request: Request, reply: Reply, connection: Any) -> None:
    headers = tornado.httputil.HTTPHeaders(dict(reply.headers))
    bodyless = request.method == "HEAD" or reply.status in (204, 304)
    if reply.status not in (204, 304):
        headers["Content-Length"] = str(len(reply.body))
    start = tornado.httputil.ResponseStartLine(
        "HTTP/1.1", reply.status, tornado.httputil.responses.get(reply.status, "Unknown"))
    # To a client gone meanwhile, tornado drops the write.
    connection.write_headers(start, headers, None if bodyless else reply.body)
    connection.finish()


def _peer(stream: tornado.iostream.IOStream) -> str:
    if not isinstance(stream, tornado.iostream.SSLIOStream):
        return ""
    certificate = stream.socket.getpeercert() or {}
    return ",".join(value for _, value in certificate.get("subjectAltName", ()))


class _Server(tornado.httpserver.HTTPServer):
    """Numbers the connections it accepts (Tornado's Configurable builds servers through
    ``initialize``: the receiver comes as the request callback)."""

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple) -> None:
        self.request_callback.receiver._accepted(stream)
        super().handle_stream(stream, address)


class _Exchanges(tornado.httputil.HTTPServerConnectionDelegate):
    def __init__(self, receiver: HttpReceiver) -> None:
        self.receiver = receiver

    def start_request(self, server_conn: object,
                      request_conn: tornado.httputil.HTTPConnection) -> _Exchange:
        return _Exchange(self.receiver, request_conn)


class _Exchange(tornado.httputil.HTTPMessageDelegate):
    """One request being read: its head is timestamped as soon as it is parsed."""

    def __init__(self, receiver: HttpReceiver, connection: Any) -> None:
        self.receiver = receiver
        self.connection = connection
        self.body = bytearray()
        self.arrived = 0.0

    def headers_received(self, start_line: Any,
                         headers: tornado.httputil.HTTPHeaders) -> None:
        self.arrived = time.time()
        self.start_line = start_line
        self.headers = headers

    def data_received(self, chunk: bytes) -> None:
        self.body += chunk

    def finish(self) -> None:
        self.receiver._received(self)
