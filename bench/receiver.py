"""The local receiver: a lean HTTP/1.1 server in a child process whose clock measures lateness.

Every request to ``/fire`` is recorded as ``(key, due second, receive time)``: the key from
``X-FORSUN-KEY`` (or the ``key`` query argument, for servers that do not send the header),
the due second from ``X-FORSUN-TIMESTAMP``, the receive time from ``time.time()`` when the
event loop read the request's bytes off the socket. ``GET /_bench/records`` returns the
records, ``GET /_bench/count`` their number, ``POST /_bench/reset`` clears them. Run as
``python -m bench.receiver HOST PORT``.

It is an asyncio protocol around the httptools parser rather than a web framework: at 167
requests a second a framework's own work per request (~150 µs for aiohttp.web on the bench
machine) queues the requests of one second behind each other, and that queue is the
receiver's lateness, not the sender's. Taking the time when the bytes arrive also keeps
the receiver's handling out of the figure. The tests' receiver (``forsun.testing.receiver``,
on tornado, which the core depends on) costs ~190 µs of CPU a request against 30-55 µs
here, so the bench keeps this one.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

from forsun.testing.services import free_port, reachable

from .target import REPO

Record = tuple[str, "int | None", float]


class _Connection(asyncio.Protocol):
    """One client connection: parses requests (keep-alive, pipelined) and answers each."""

    def __init__(self, records: list[Record]) -> None:
        import httptools

        self.records = records
        self.parser = httptools.HttpRequestParser(self)
        self.parse_error = httptools.HttpParserError
        self.transport: asyncio.Transport | None = None
        self.arrived = 0.0
        self.url = b""
        self.headers: dict[bytes, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.arrived = time.time()
        try:
            self.parser.feed_data(data)
        except self.parse_error:
            self._answer(400, b"bad request", close=True)

    # -- httptools callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url, self.headers = b"", {}

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_message_complete(self) -> None:
        parts = urlsplit(self.url.decode("latin-1"))
        method = self.parser.get_method()
        if parts.path == "/fire":
            key = self.headers.get(b"x-forsun-key", b"").decode("utf-8", "replace") \
                or parse_qs(parts.query).get("key", [""])[0]
            stamp = self.headers.get(b"x-forsun-timestamp", b"")
            self.records.append((key, int(stamp) if stamp.isdigit() else None, self.arrived))
            self._answer(200, b"")
        elif parts.path == "/_bench/records" and method == b"GET":
            self._answer(200, json.dumps(self.records).encode())
        elif parts.path == "/_bench/count" and method == b"GET":
            self._answer(200, json.dumps(len(self.records)).encode())
        elif parts.path == "/_bench/reset" and method == b"POST":
            self.records.clear()
            self._answer(200, b"[]")
        else:
            self._answer(404, b"not found")

    def _answer(self, status: int, body: bytes, *, close: bool = False) -> None:
        assert self.transport is not None
        close = close or not self.parser.should_keep_alive()
        self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n%s\r\n"
                             % (status, b"OK" if status == 200 else b"Error", len(body),
                                b"Connection: close\r\n" if close else b"") + body)
        if close:
            self.transport.close()


def serve(host: str, port: int) -> None:
    records: list[Record] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(records), host, port,
                                          backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


@attrs.define
class Receiver:
    """Handle on a receiver child process listening on ``host:port``."""

    proc: subprocess.Popen[bytes]
    host: str
    port: int

    @classmethod
    def start(cls, host: str = "127.0.0.1") -> Receiver:
        port = free_port(host)
        proc = subprocess.Popen([sys.executable, "-m", "bench.receiver", host, str(port)],
                                cwd=REPO, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not reachable(host, port, 0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the receiver did not listen on {host}:{port}")
            time.sleep(0.05)
        return cls(proc, host, port)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, key: str) -> str:
        """The callback URL of plan ``key``."""
        return f"{self.base}/fire?key={key}"

    def _call(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(self.base + path, method=method,
                                         data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        self._call("/_bench/reset", "POST")

    def count(self) -> int:
        return self._call("/_bench/count")

    def records(self) -> list[tuple[str, int | None, float]]:
        return [(key, ts, received) for key, ts, received in self._call("/_bench/records")]

    def wait(self, expected: int, deadline: float, poll: float = 0.25) -> None:
        """Return once ``expected`` requests arrived or at ``deadline`` (unix time)."""
        while time.time() < deadline and self.count() < expected:
            time.sleep(poll)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
