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
import contextlib
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
    """One keep-alive connection of ``pool``: one request at a time (no pipelining).

    When an answer is complete the connection goes back to its pool at once, from the
    callback that read it: the pool writes the next queued request on it right there,
    without a round through the event loop (see :class:`Pool`)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.snippet, self.drain_limit = pool.snippet, pool.drain_limit
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.reusable = False
        self.closed = False
        self._waiter: asyncio.Future[Answer] | None = None
        self._answered = False  # an answer completed during this data_received
        self._reset()

    def _reset(self) -> None:
        self.answer = Answer()
        self._reason = bytearray()
        self._head = bytearray()
        self._read = 0
        self._framed = False  # Content-Length or chunked: the end is not the connection's

    # -- driving -------------------------------------------------------------------------

    def send(self, data: bytes, waiter: asyncio.Future[Answer]) -> None:
        """Write ``data``; ``waiter`` gets the answer (or Disconnected)."""
        assert self.transport is not None and self._waiter is None
        self._waiter = waiter
        self.reusable = False
        self.transport.write(data)

    def close(self) -> None:
        """Close the connection (its slot goes back to the pool once)."""
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.pool._gone(self)

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
        self._answered = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Disconnected(f"malformed answer: {exc}"))
            self.close()
            return
        if self._answered and not self.closed:
            self.pool._free(self)  # after the parser is done with these bytes

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None:
            if exc is None and self.answer.status and not self._framed:
                self._finish(reusable=False)  # an answer whose body ends with the connection
            else:
                reason = f": {exc}" if exc else ""
                self._fail(Disconnected(f"the server closed the connection{reason}"))
        self.close()

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
        self._answered = True


@attrs.define(eq=False)
class _Queued:
    """A request waiting for a connection. ``future`` gets its answer (the pool sent it
    on ``conn``) or None (a slot freed up: the waiter opens a connection in it)."""

    data: bytes
    future: asyncio.Future[Answer | None]
    conn: _Connection | None = None


class Pool:
    """Keep-alive connections to one ``host:port``, at most ``limit`` open at a time.

    Requests beyond the limit queue in order. A connection whose answer is complete takes
    the next queued request from the callback that read the answer, so at a busy second
    boundary a request leaves as soon as a connection is free, not after the event loop
    has woken the task that waits for it (measured on the bench machine: see
    bench/README.md, "Findings")."""

    def __init__(self, host: str, port: int, limit: int, snippet: int,
                 drain_limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.snippet, self.drain_limit = snippet, drain_limit
        self.open = 0
        self.closed = False
        self._idle: list[_Connection] = []
        self._queue: collections.deque[_Queued] = collections.deque()

    async def request(self, data: bytes, connect_timeout: float) -> Answer:
        """Send ``data`` and return the answer. ConnectTimeout, Disconnected or OSError."""
        loop = asyncio.get_running_loop()
        if self._idle:
            conn = self._idle.pop()  # the most recent: the least likely to have timed out
        elif self.open < self.limit:
            self.open += 1
            conn = await self._connect(connect_timeout)
        else:
            queued = _Queued(data, loop.create_future())
            self._queue.append(queued)
            try:
                answer = await queued.future
            except asyncio.CancelledError:
                self._withdraw(queued)
                raise
            if answer is not None:
                return answer
            conn = await self._connect(connect_timeout)  # in the slot it was given
        waiter: asyncio.Future[Answer] = loop.create_future()
        conn.send(data, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if not waiter.done() or waiter.cancelled():  # else the answer was in
                conn.close()  # its answer would come to nobody
            raise

    def _withdraw(self, queued: _Queued) -> None:
        """A queued request was cancelled: close the connection it went out on, or pass
        on the slot it was given, or leave the queue."""
        future = queued.future
        if future.done() and not future.cancelled():
            if future.result() is None:
                self._slot_freed()  # the slot it was given goes to the next
            # else its answer was in: the connection went back to the pool
        elif queued.conn is not None:
            queued.conn.close()  # its answer would come to nobody
        else:
            with contextlib.suppress(ValueError):
                self._queue.remove(queued)

    async def _connect(self, connect_timeout: float) -> _Connection:
        """A new connection in a slot already counted in ``open``; on failure the slot
        is passed on."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, conn = await loop.create_connection(lambda: _Connection(self),
                                                       self.host, self.port)
        except TimeoutError:
            self._slot_freed()
            raise ConnectTimeout() from None
        except BaseException:
            self._slot_freed()
            raise
        return conn

    def _free(self, conn: _Connection) -> None:
        """``conn`` has its answer: send the first queued request on it, or keep it."""
        if not conn.reusable or self.closed:
            conn.close()
            return
        while self._queue:
            queued = self._queue.popleft()
            if not queued.future.done():  # else cancelled while queued
                queued.conn = conn
                conn.send(queued.data, queued.future)  # type: ignore[arg-type]
                return
        self._idle.append(conn)

    def _gone(self, conn: _Connection) -> None:
        """``conn`` closed: forget it and pass its slot on."""
        if conn in self._idle:
            self._idle.remove(conn)
        self._slot_freed()

    def _slot_freed(self) -> None:
        """Give a free slot to the first queued request (it connects), else give it back."""
        while self._queue:
            queued = self._queue.popleft()
            if not queued.future.done():
                queued.future.set_result(None)
                return
        self.open -= 1

    def close(self) -> None:
        """Close the idle connections now and the busy ones when their answer is in."""
        self.closed = True
        for conn in list(self._idle):
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
