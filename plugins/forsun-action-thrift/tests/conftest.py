"""Fixtures for the thrift action's tests: real thriftpy2 servers on free ports, run in
threads. :class:`RecordingServer` serves forsun's ``Forsun`` service with only
``forsun_call`` implemented and records every call; a few params steer how it answers."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import thriftpy2
from thriftpy2.server import TThreadedServer
from thriftpy2.thrift import TApplicationException, TProcessor
from thriftpy2.transport import TServerSocket

from forsun.idl import load_idl
from forsun.testing import ActionTarget
from forsun.testing.options import make_options
from forsun.testing.services import free_port, reachable
from forsun_action_thrift.action import ThriftAction

pytest_plugins = ["forsun.testing.fixtures"]

HOST = "127.0.0.1"


class ForsunCallRecorder:
    """The handler: records ``(key, ts, params)`` of each call, then answers as the params
    say: ``sleep`` (seconds) first, ``answer`` ``internal_error`` (an application error),
    ``unknown_method`` (as from a server without forsun_call) or ``drop`` (closes the
    connection without an answer)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, dict[str, str]]] = []
        self._lock = threading.Lock()

    def forsun_call(self, key: str, ts: int, params: dict[str, str]) -> None:
        with self._lock:
            self.calls.append((key, ts, params))
        if params.get("sleep"):
            time.sleep(float(params["sleep"]))
        answer = params.get("answer", "")
        if answer == "internal_error":
            raise TApplicationException(TApplicationException.INTERNAL_ERROR, "handler broke")
        if answer == "unknown_method":
            raise TApplicationException(TApplicationException.UNKNOWN_METHOD, "no such method")
        if answer == "drop":
            raise RuntimeError("dropping the connection")


class CountingServerSocket(TServerSocket):
    """Counts accepted connections, so tests can see pooling."""

    accepted = 0

    def accept(self) -> Any:
        client = super().accept()
        self.accepted += 1
        return client


class RecordingServer:
    """A thriftpy2 threaded server of ``service`` on a free port, stopped by :meth:`stop`."""

    def __init__(self, service: Any, handler: Any, client_timeout_ms: int | None) -> None:
        self.port = free_port()
        self.handler = handler
        self.socket = CountingServerSocket(host=HOST, port=self.port,
                                           client_timeout=client_timeout_ms)
        self.server = TThreadedServer(TProcessor(service, handler), self.socket, daemon=True)
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not reachable(HOST, self.port, 0.2):
            if time.monotonic() > deadline:
                raise RuntimeError(f"thrift server did not listen on {self.port}")
            time.sleep(0.01)
        while self.socket.accepted < 1:  # the readiness probe above is no client
            time.sleep(0.005)
        self.socket.accepted = 0

    @property
    def calls(self) -> list[tuple[str, int, dict[str, str]]]:
        return list(self.handler.calls)

    def stop(self) -> None:
        self.server.close()
        self.socket.close()


@pytest.fixture
def thrift_server() -> Iterator[Callable[..., RecordingServer]]:
    """``start(client_timeout_ms=None)``: a recording ``Forsun`` server (the server closes
    connections idle longer than ``client_timeout_ms``)."""
    servers: list[RecordingServer] = []

    def start(client_timeout_ms: int | None = None) -> RecordingServer:
        server = RecordingServer(load_idl().Forsun, ForsunCallRecorder(), client_timeout_ms)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def recorder(thrift_server) -> RecordingServer:
    return thrift_server()


@pytest.fixture
def other_service_server(tmp_path: Path) -> Iterator[RecordingServer]:
    """A Thrift server of another service, which has no forsun_call."""
    idl = tmp_path / "other.thrift"
    idl.write_text("service Other {\n    i16 ping()\n}\n")
    module = thriftpy2.load(str(idl), module_name="other_thrift")

    class Handler:
        calls: list = []

        def ping(self) -> int:
            return 0

    server = RecordingServer(module.Other, Handler(), None)
    yield server
    server.stop()


@pytest.fixture
async def action() -> AsyncIterator[ThriftAction]:
    action = ThriftAction(make_options())
    yield action
    await action.close()


class ForsunCallTarget(ActionTarget):
    """The conformance suite's view of a :class:`RecordingServer`: forsun_call carries the
    key and the due second, so deliveries are observed exactly."""

    passes_timestamp = True

    def __init__(self, server: RecordingServer, other: RecordingServer) -> None:
        self.server = server
        self.other = other

    def ok_params(self) -> dict[str, str]:
        return {"port": str(self.server.port)}

    def failing_params(self) -> dict[str, str]:
        return {"port": str(self.other.port)}

    def retry_params(self) -> dict[str, str]:
        return {"port": str(self.server.port), "answer": "internal_error"}

    def slow_params(self, seconds: float) -> dict[str, str]:
        return {"port": str(self.server.port), "sleep": str(seconds)}

    def missing_params(self) -> None:
        return None  # the thrift action has no required param

    async def deliveries(self) -> list[tuple[str, int | None]]:
        return [(key, ts) for key, ts, params in self.server.calls if "answer" not in params]


@pytest.fixture
def forsun_call_target(recorder: RecordingServer,
                       other_service_server: RecordingServer) -> ForsunCallTarget:
    return ForsunCallTarget(recorder, other_service_server)
