"""Real servers for the timerush tests: a callback receiver, a forsun service running the
plugin, and a timerush protocol client.

The receiver (``forsun.testing.receiver``) answers every path with ``{"ret": 0}`` unless
told otherwise: ``/status/N`` answers HTTP N, ``?delay=S`` answers after S seconds, and
``receiver.answer(path, Reply.json(...), ...)`` makes a path give those answers in turn (the
last one repeats). Every request is recorded with the reply it got.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import attrs
import pytest

from forsun.plugins import get_plugin_manager
from forsun.service import Service
from forsun.testing import ActionTarget, make_options
from forsun.testing.receiver import HttpReceiver, Reply, Request
from forsun.testing.services import free_port

pytest_plugins = ["forsun.testing.fixtures"]


OK = Reply.json({"ret": 0})


def accepted(request: Request) -> bool:
    """Answered 2xx with ``ret`` 0, as timerush counts a delivery."""
    if not request.reply or not 200 <= request.status < 300:
        return False
    try:
        return json.loads(request.reply.body).get("ret") == 0
    except (ValueError, AttributeError):
        return False


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    """A receiver answering ``{"ret": 0}``, closed after the test."""
    with HttpReceiver(default=OK) as started:
        yield started


class TimerushTarget(ActionTarget):
    """The conformance suite's view of the receiver: ``/ok`` accepts, ``/bad-follow-up``
    accepts with an invalid follow-up (a final failure), ``/status/503`` fails (retried),
    ``?delay=S`` is slow."""

    def __init__(self, receiver: HttpReceiver) -> None:
        self.receiver = receiver
        receiver.answer("/bad-follow-up", Reply.json({"ret": 0, "data": {"seconds": 5}}))

    def ok_params(self) -> dict[str, str]:
        return {"callback_cmd": self.receiver.url("/ok"), "callback_data": '{"order": 1}'}

    def failing_params(self) -> dict[str, str] | None:
        return {"callback_cmd": self.receiver.url("/bad-follow-up"), "callback_data": "x"}

    def retry_params(self) -> dict[str, str] | None:
        return {"callback_cmd": self.receiver.url("/status/503"), "callback_data": "x"}

    def slow_params(self, seconds: float) -> dict[str, str] | None:
        return {"callback_cmd": self.receiver.url(f"/slow?delay={seconds:g}")}

    def missing_params(self) -> dict[str, str] | None:
        return {"callback_data": "no callback_cmd"}

    async def deliveries(self) -> list[tuple[str, int | None]]:
        return [(r.key, r.ts) for r in self.receiver.to("/ok") if accepted(r)]


@pytest.fixture
def timerush_target(receiver: HttpReceiver) -> TimerushTarget:
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
