"""Real targets for the actions of both servers: an HTTP server and a Thrift server that
record what reaches them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

HOST = "127.0.0.1"


@attrs.define
class Request:
    """One HTTP request the receiver got: its method, path, headers (lower-case names),
    body and arrival."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    receiver: HttpReceiver

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.receiver.requests.append(Request(self.command, self.path, headers, body,
                                              time.time()))
        status = 500 if self.path.startswith("/fail") else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = _record

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HttpReceiver:
    """A real HTTP server on a free port; a path starting with ``/fail`` answers 500."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        handler = type("Recorder", (_Recorder,), {"receiver": self})
        self.server = ThreadingHTTPServer((HOST, 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}{path}"

    def to(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 20.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.to(path)) >= count:
                return self.to(path)
            time.sleep(0.05)
        raise AssertionError(f"{count} request(s) to {path} did not arrive within {timeout:g}s"
                             f" (got {len(self.to(path))})")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _ForsunCalls:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, dict[str, str]]] = []

    def forsun_call(self, key: str, ts: int, params: dict[str, str]) -> None:
        self.calls.append((key, ts, dict(params)))


@contextmanager
def thrift_receiver(port: int) -> Iterator[list[tuple[str, int, dict[str, str]]]]:
    """A Thrift server of forsun's IDL on ``port``: the ``forsun_call`` calls it got."""
    from thriftpy2.server import TThreadedServer
    from thriftpy2.thrift import TProcessor
    from thriftpy2.transport import TServerSocket

    from forsun.idl import load_idl

    handler = _ForsunCalls()
    socket = TServerSocket(host=HOST, port=port)
    server = TThreadedServer(TProcessor(load_idl().Forsun, handler), socket, daemon=True)
    threading.Thread(target=server.serve, daemon=True).start()
    try:
        yield handler.calls
    finally:
        server.close()
        socket.close()
