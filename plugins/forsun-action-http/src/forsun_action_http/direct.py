"""The direct path: plain ``http://`` requests on keep-alive connections of our own, the
answer parsed by httptools (llhttp, the parser Node.js uses).

Why: aiohttp's client costs 130-180 µs of CPU per request on the bench machine, so the
167 requests due at one second boundary left 20-50 ms after it. Written out in one buffer
and parsed in C, a request costs about a third of that. The direct path sends what the
aiohttp path sends (minus ``Accept-Encoding``: it reads answers only to drain them) and
takes only requests it can send exactly so (:func:`request_head`); :class:`HttpAction`
sends the others, and every redirect hop, through aiohttp.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterable

import attrs
import httptools
from yarl import URL

#: Methods sent without ``Content-Length: 0`` when they have no body (as aiohttp does).
BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class ConnectTimeout(Exception):
    """No connection within the connect timeout."""


class Disconnected(Exception):
    """The connection ended or broke before a complete answer."""


def request_head(method: str, url: URL, headers: Iterable[tuple[str, str]],
                 body: bytes | None) -> bytes | None:
    """The request line and headers to send for a firing, short of the ``X-FORSUN-*``
    headers and the blank line; None when the direct path cannot send this request
    (https, HEAD). ``headers`` are as :func:`~forsun_action_http.action.parse_call`
    checked them: tokens for names, no control character in values, no framing header
    (this function frames the body with ``Content-Length``)."""
    if url.scheme != "http" or method == "HEAD":
        return None
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1"]
    names = set()
    for name, value in headers:
        names.add(name.lower())
        lines.append(f"{name}: {value}")
    if "host" not in names:
        lines.insert(1, f"Host: {url.host_port_subcomponent}")
    if "accept" not in names:
        lines.append("Accept: */*")
    if body is not None or method not in BODILESS_METHODS:
        lines.append(f"Content-Length: {len(body or b'')}")
    lines.append("")
    return "\r\n".join(lines).encode("utf-8")


@attrs.define
class Answer:
    """What came back: status, reason, ``Location`` and the first ``snippet`` bytes."""

    status: int = 0
    reason: str = ""
    location: str | None = None
    head: bytes = b""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time (no pipelining)."""

    def __init__(self, snippet: int, drain_limit: int) -> None:
        self.snippet, self.drain_limit = snippet, drain_limit
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.reusable = False
        self.closed = False
        self._waiter: asyncio.Future[Answer] | None = None
        self._reset()

    def _reset(self) -> None:
        self.answer = Answer()
        self._reason = bytearray()
        self._head = bytearray()
        self._read = 0
        self._framed = False  # Content-Length or chunked: the end is not the connection's

    # -- driving -------------------------------------------------------------------------

    def send(self, data: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None and self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self.reusable = False
        self.transport.write(data)
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _finish(self, reusable: bool) -> None:
        waiter, self._waiter = self._waiter, None
        self.answer.reason = self._reason.decode("latin-1")
        self.answer.head = bytes(self._head)
        self.reusable = reusable and not self.closed
        if waiter is not None and not waiter.done():
            waiter.set_result(self.answer)
        self._reset()

    def _fail(self, error: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    # -- asyncio -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the connection is not usable
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.close()
            self._fail(Disconnected(f"malformed answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None:
            return
        if exc is None and self.answer.status and not self._framed:
            self._finish(reusable=False)  # an answer whose body ends with the connection
        else:
            reason = f": {exc}" if exc else ""
            self._fail(Disconnected(f"the server closed the connection{reason}"))

    # -- httptools -----------------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"location":
            self.answer.location = value.decode("latin-1")
        elif lowered == b"content-length" or (lowered == b"transfer-encoding"
                                              and b"chunked" in value.lower()):
            self._framed = True

    def on_headers_complete(self) -> None:
        self.answer.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        if len(self._head) < self.snippet:
            self._head += body[:self.snippet - len(self._head)]
        self._read += len(body)
        if self._read > self.drain_limit:  # enough: do not read the rest
            self._finish(reusable=False)
            self.close()

    def on_message_complete(self) -> None:
        if self._waiter is None:
            return
        if 100 <= self.answer.status < 200:  # an interim answer: the real one follows
            self._reset()
            return
        self._finish(reusable=self.parser.should_keep_alive())


class Pool:
    """Keep-alive connections to one ``host:port``, at most ``limit`` open at a time."""

    def __init__(self, host: str, port: int, limit: int, snippet: int,
                 drain_limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.snippet, self.drain_limit = snippet, drain_limit
        self.open = 0
        self.closed = False
        self._idle: list[_Connection] = []
        #: firings waiting for a connection: resolved with an idle one, or with None when
        #: a slot freed up (the waiter then opens a connection in that slot)
        self._waiters: collections.deque[asyncio.Future[_Connection | None]] = \
            collections.deque()

    async def request(self, data: bytes, connect_timeout: float) -> Answer:
        """Send ``data`` and return the answer. ConnectTimeout, Disconnected or OSError."""
        conn = await self._acquire(connect_timeout)
        try:
            answer = await conn.send(data)
        except BaseException:
            conn.close()
            self._release(conn)
            raise
        self._release(conn)
        return answer

    async def _acquire(self, connect_timeout: float) -> _Connection:
        while self._idle:
            conn = self._idle.pop()  # the most recent: the least likely to have timed out
            if not conn.closed:
                return conn
            self.open -= 1
        if self.open >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                conn = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._hand_on(waiter.result())  # what it was given goes to the next
                elif waiter in self._waiters:  # (_hand_on drops cancelled ones it meets)
                    self._waiters.remove(waiter)
                raise
            if conn is not None:
                return conn
        else:
            self.open += 1
        try:
            return await self._connect(connect_timeout)
        except BaseException:
            self._hand_on(None)
            raise

    async def _connect(self, connect_timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self.snippet, self.drain_limit), self.host, self.port)
        except TimeoutError:
            raise ConnectTimeout() from None
        return conn

    def _release(self, conn: _Connection) -> None:
        reusable = conn.reusable and not conn.closed and not self.closed
        self._hand_on(conn if reusable else None)
        if not reusable:
            conn.close()

    def _hand_on(self, conn: _Connection | None) -> None:
        """Give a free connection (or, None, a free slot) to the first waiter, else keep
        it (or give the slot back)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is None:
            self.open -= 1
        else:
            self._idle.append(conn)

    def close(self) -> None:
        """Close the idle connections now and the busy ones when their answer is in."""
        self.closed = True
        for conn in self._idle:
            conn.close()
        self._idle.clear()


class DirectClient:
    """:class:`Pool` per ``host:port``; :meth:`close` ends every connection."""

    def __init__(self, limit: int, snippet: int, drain_limit: int) -> None:
        self.limit, self.snippet, self.drain_limit = limit, snippet, drain_limit
        self._pools: dict[tuple[str, int], Pool] = {}

    def pool(self, url: URL) -> Pool:
        host, port = url.raw_host or "", url.port or 80
        pool = self._pools.get((host, port))
        if pool is None:
            pool = self._pools[host, port] = Pool(host, port, self.limit, self.snippet,
                                                  self.drain_limit)
        return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
