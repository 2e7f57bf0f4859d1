"""Fixtures for the beanstalk action's tests: the shared beanstalkd at 127.0.0.1:11300 (a
tube of each test's own) and private beanstalkd processes for what needs a server of its
own (counting connections, a small job size, drain mode, a restart). Jobs are read back
with greenstalk, a client independent of the action's own protocol code."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping

import attrs
import greenstalk
import pytest

from forsun.testing import ActionTarget
from forsun.testing.options import make_options
from forsun.testing.services import free_port, reachable, require_executable, require_server
from forsun_action_beanstalk.action import BeanstalkAction

pytest_plugins = ["forsun.testing.fixtures"]

HOST = "127.0.0.1"
PORT = 11300


def drain_jobs(client: greenstalk.Client) -> list[tuple[str, dict]]:
    """Reserve and delete every ready job of the watched tubes; their bodies and
    ``stats-job`` answers, in order."""
    jobs = []
    while True:
        try:
            job = client.reserve(timeout=0)
        except greenstalk.TimedOutError:
            return jobs
        jobs.append((job.body, client.stats_job(job)))
        client.delete(job)


@pytest.fixture
def drain() -> Callable[[greenstalk.Client], list[tuple[str, dict]]]:
    """``drain(client)``: :func:`drain_jobs`."""
    return drain_jobs


@pytest.fixture
def tube() -> Iterator[str]:
    """A tube name of this test's own on the shared beanstalkd."""
    require_server("beanstalkd", HOST, PORT)
    yield f"forsun-test-{uuid.uuid4().hex}"


@pytest.fixture
def watcher(tube: str) -> Iterator[greenstalk.Client]:
    """A greenstalk client of the shared beanstalkd watching (and using) ``tube``."""
    client = greenstalk.Client((HOST, PORT), use=tube, watch=tube)
    yield client
    drain_jobs(client)
    client.close()


@attrs.define
class PrivateBeanstalkd:
    """A beanstalkd this test started on ``port``; ``client`` watches its default tube."""

    port: int
    process: subprocess.Popen[bytes]
    client: greenstalk.Client

    def stat(self, name: str) -> int:
        return int(self.client.stats()[name])


@pytest.fixture
def beanstalkd_process() -> Iterator[Callable[..., PrivateBeanstalkd]]:
    """``start(*args, port=None)`` runs a private beanstalkd (extra command-line ``args``)."""
    executable = require_executable("beanstalkd")
    started: list[PrivateBeanstalkd] = []

    def start(*args: str, port: int | None = None) -> PrivateBeanstalkd:
        port = port or free_port()
        process = subprocess.Popen([executable, "-l", HOST, "-p", str(port), *args],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not reachable(HOST, port, 0.2):
            if time.monotonic() > deadline:
                raise RuntimeError(f"beanstalkd did not listen on {port}")
            time.sleep(0.02)
        server = PrivateBeanstalkd(port, process, greenstalk.Client((HOST, port)))
        started.append(server)
        return server

    yield start
    for server in started:
        server.client.close()
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(10)


@pytest.fixture
def private_beanstalkd(beanstalkd_process) -> PrivateBeanstalkd:
    return beanstalkd_process()


@pytest.fixture
async def action() -> AsyncIterator[BeanstalkAction]:
    action = BeanstalkAction(make_options())
    yield action
    await action.close()


class TubeTarget(ActionTarget):
    """The conformance suite's view of the shared beanstalkd: each :meth:`ok_params` puts a
    token of its own as the body of a job in a tube. A job cannot carry the plan's key or
    due second, so a delivery is identified by that token (``deliveries()`` gives
    ``(token, None)`` for every job reserved from the tube; ``token_of(params)`` is the body
    a firing's params carry).

    A slow put goes to a private beanstalkd stopped with SIGSTOP: the kernel accepts the
    connection, the reply waits until a timer sends SIGCONT ``seconds`` later.
    """

    passes_timestamp = False

    def __init__(self, watcher: greenstalk.Client, tube: str,
                 stalled: PrivateBeanstalkd) -> None:
        self.watcher = watcher
        self.tube = tube
        self.stalled = stalled
        self.max_job_size = int(watcher.stats()["max-job-size"])
        self.seen: list[tuple[str, int | None]] = []
        self.timers: list[threading.Timer] = []

    def ok_params(self) -> dict[str, str]:
        return {"name": self.tube, "body": uuid.uuid4().hex}

    @staticmethod
    def token_of(params: Mapping[str, str]) -> str:
        return params["body"]

    def failing_params(self) -> dict[str, str]:
        return {"name": self.tube, "body": "x" * (self.max_job_size + 1)}  # JOB_TOO_BIG

    def retry_params(self) -> dict[str, str]:
        return {"name": self.tube, "port": str(free_port())}

    def slow_params(self, seconds: float) -> dict[str, str]:
        process = self.stalled.process
        process.send_signal(signal.SIGSTOP)
        timer = threading.Timer(seconds, process.send_signal, (signal.SIGCONT,))
        timer.start()
        self.timers.append(timer)
        return {"port": str(self.stalled.port)}

    def missing_params(self) -> None:
        return None  # every beanstalk param has a default

    async def deliveries(self) -> list[tuple[str, int | None]]:
        self.seen += [(body, None) for body, _ in drain_jobs(self.watcher)]
        return list(self.seen)

    def resume(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.stalled.process.send_signal(signal.SIGCONT)


@pytest.fixture
def tube_target(watcher: greenstalk.Client, tube: str,
                private_beanstalkd: PrivateBeanstalkd) -> Iterator[TubeTarget]:
    target = TubeTarget(watcher, tube, private_beanstalkd)
    yield target
    target.resume()
