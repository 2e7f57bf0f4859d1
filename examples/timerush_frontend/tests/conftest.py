"""Real servers for the timerush tests: a callback receiver, a forsun service running the
plugin, and a timerush protocol client.

The receiver (aiohttp) answers every path with ``{"ret": 0}`` unless told otherwise:
``/status/N`` answers HTTP N, ``/slow?seconds=S`` answers after S seconds, and
``receiver.script(path, answer, ...)`` makes a path give those answers in turn (the last
one repeats). Every request is recorded with the answer it got.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from multidict import CIMultiDict

from forsun import Plan
from forsun.action import Firing
from forsun.plugins import get_plugin_manager
from forsun.service import Service
from forsun.testing import ActionTarget, make_options
from forsun.testing.fixtures import pytest_configure  # noqa: F401 - the conformance marker
from forsun.testing.services import free_port

#: An answer: (HTTP status, JSON value or raw bytes).
Answer = tuple[int, Any]
OK: Answer = (200, {"ret": 0})


@attrs.define
class Recorded:
    path: str
    headers: CIMultiDict[str]
    body: bytes
    #: time.time() when the request arrived
    at: float
    #: the names in the client certificate (subjectAltName), for https
    peer: str = ""
    answer: Answer | None = None

    @property
    def key(self) -> str:
        return self.headers.get("X-Forsun-Key", "")

    @property
    def due(self) -> int:
        return int(self.headers["X-Forsun-Timestamp"])

    @property
    def accepted(self) -> bool:
        """Answered 2xx with ``ret`` 0."""
        if self.answer is None:
            return False
        status, body = self.answer
        return 200 <= status < 300 and isinstance(body, dict) and body.get("ret") == 0


class Receiver:
    """A callback server; ``url(path)`` is the address of a path on it."""

    def __init__(self, scheme: str = "http") -> None:
        self.scheme = scheme
        self.port = 0
        self.requests: list[Recorded] = []
        self._scripts: dict[str, list[Answer]] = {}
        self._arrived = asyncio.Condition()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer) -> None:
        self._scripts[path] = list(answers)

    def to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    async def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Recorded]:
        """The requests to ``path`` once there are ``count`` of them (fails the test after
        ``timeout`` seconds)."""
        async with self._arrived:
            try:
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: len(self.to(path)) >= count), timeout)
            except TimeoutError:
                pytest.fail(f"{len(self.to(path))} of {count} requests to {path} arrived "
                            f"within {timeout:g}s")
        return self.to(path)

    async def handle(self, request: web.Request) -> web.Response:
        cert = request.transport.get_extra_info("peercert") if request.transport else None
        peer = ",".join(value for _, value in (cert or {}).get("subjectAltName", ()))
        record = Recorded(request.path, CIMultiDict(request.headers), await request.read(),
                          time.time(), peer)
        async with self._arrived:
            self.requests.append(record)
            self._arrived.notify_all()
        record.answer = await self._answer(request)
        status, body = record.answer
        if isinstance(body, bytes):
            return web.Response(status=status, body=body)
        return web.json_response(body, status=status)

    async def _answer(self, request: web.Request) -> Answer:
        path = request.path
        if path.startswith("/status/"):
            return int(path.removeprefix("/status/")), {"ret": 0}
        if path == "/slow":
            await asyncio.sleep(float(request.query["seconds"]))
            return OK
        answers = self._scripts.get(path)
        if not answers:
            return OK
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture
async def make_receiver() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    """``await make_receiver(ssl_context=None)``: a receiver on a free port of 127.0.0.1
    (https with ``ssl_context``), stopped after the test."""
    runners: list[web.AppRunner] = []

    async def start(ssl_context: ssl.SSLContext | None = None) -> Receiver:
        receiver = Receiver("https" if ssl_context else "http")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", receiver.handle)
        # handler_cancellation: a client that gave up stops the /slow handler.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
        receiver.port = runner.addresses[0][1]
        return receiver

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def receiver(make_receiver) -> Receiver:
    return await make_receiver()


@pytest.fixture
def refused_url() -> str:
    """A URL on which nothing listens."""
    return f"http://127.0.0.1:{free_port()}/nothing"


def firing(params: dict[str, str], key: str = "timerush:test", ts: int = 1_700_000_000
           ) -> Firing:
    """A first attempt of ``key`` due at ``ts``."""
    plan = Plan(key=key, action="timerush", params=dict(params), next_time=ts,
                is_time_out=True, count=1)
    return Firing(key=key, ts=ts, params=plan.params, plan=plan)


@pytest.fixture
def make_firing() -> Callable[..., Firing]:
    return firing


class TimerushTarget(ActionTarget):
    """The conformance suite's view of the receiver: ``/ok`` accepts, ``/bad-follow-up``
    accepts with an invalid follow-up (a final failure), ``/status/503`` fails (retried),
    ``/slow`` is slow."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        receiver.script("/bad-follow-up", (200, {"ret": 0, "data": {"seconds": 5}}))

    def ok_params(self) -> dict[str, str]:
        return {"callback_cmd": self.receiver.url("/ok"), "callback_data": '{"order": 1}'}

    def failing_params(self) -> dict[str, str] | None:
        return {"callback_cmd": self.receiver.url("/bad-follow-up"), "callback_data": "x"}

    def retry_params(self) -> dict[str, str] | None:
        return {"callback_cmd": self.receiver.url("/status/503"), "callback_data": "x"}

    def slow_params(self, seconds: float) -> dict[str, str] | None:
        return {"callback_cmd": self.receiver.url(f"/slow?seconds={seconds:g}")}

    def missing_params(self) -> dict[str, str] | None:
        return {"callback_data": "no callback_cmd"}

    async def deliveries(self) -> list[tuple[str, int | None]]:
        return [(r.key, r.due) for r in self.receiver.to("/ok") if r.accepted]


@pytest.fixture
def timerush_target(receiver: Receiver) -> TimerushTarget:
    return TimerushTarget(receiver)


class TimerushClient:
    """Speaks the timerush protocol to ``base`` (``http://host:port``)."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def post(self, path: str, body: Any, content_type: str = "application/json"
                   ) -> tuple[int, dict[str, Any]]:
        """``(HTTP status, JSON answer)``; ``body`` is sent as JSON unless it is bytes."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.session.post(self.base + path, data=data,
                                     headers={"Content-Type": content_type}) as response:
            return response.status, json.loads(await response.read())

    async def register(self, callback_cmd: str, callback_data: str, seconds: int) -> str:
        status, answer = await self.post("/register/", {
            "callback_cmd": callback_cmd, "callback_data": callback_data, "seconds": seconds})
        assert (status, answer["ret"]) == (200, 0), answer
        return answer["data"]["key"]

    async def unregister(self, key: str) -> dict[str, Any]:
        return (await self.post("/unregister/", {"key": key}))[1]


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def make_client(http_session) -> Callable[[str], TimerushClient]:
    """``make_client("http://host:port")``: a :class:`TimerushClient` for that server."""
    return lambda base: TimerushClient(http_session, base)


@attrs.define
class Running:
    service: Service
    client: TimerushClient


class ServiceStarter:
    """``await start_service(**option values)``: a service with the mem store, the shell
    action and this plugin only (no Thrift or HTTP front end), its timerush front end on a
    free port, and short retry delays. ``await start_service.stop(running)`` stops one
    early; the fixture stops the others."""

    def __init__(self, tmp_path, session: aiohttp.ClientSession) -> None:
        self.tmp_path = tmp_path
        self.session = session
        self.running: list[Service] = []

    async def __call__(self, **values: Any) -> Running:
        pm = get_plugin_manager(only=["forsun.core_options", "forsun_store_mem",
                                      "forsun_action_shell", "forsun_frontend_timerush"])
        port = free_port()
        values = {"driver_mem_store_file": str(self.tmp_path / "db"),
                  "timerush_listen": f"127.0.0.1:{port}", "retry_delay_seconds": 0.3,
                  "retry_delay_rate": 1.0, **values}
        service = Service(make_options(**values), pm)
        await service.start()
        self.running.append(service)
        return Running(service, TimerushClient(self.session, f"http://127.0.0.1:{port}"))

    async def stop(self, running: Running) -> None:
        self.running.remove(running.service)
        await running.service.stop()


@pytest.fixture
async def start_service(tmp_path, http_session) -> AsyncIterator[ServiceStarter]:
    starter = ServiceStarter(tmp_path, http_session)
    yield starter
    for service in starter.running:
        await service.stop()
