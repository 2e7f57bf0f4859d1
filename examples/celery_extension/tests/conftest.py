"""Fixtures of the celery action's tests: a real Celery worker (``celery -A
celery_worker_tasks worker``) on the real RabbitMQ at 127.0.0.1:5672, consuming a queue of
this test session's own and recording each task it runs in Redis; and "stalled brokers",
TCP listeners that accept a connection and answer nothing, for slow sends."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import redis

from forsun.testing import ActionTarget
from forsun.testing.services import free_port, require_server

pytest_plugins = ["forsun.testing.fixtures"]

HERE = Path(__file__).parent
EXAMPLE = HERE.parent
BROKER = "amqp://guest:guest@127.0.0.1:5672//"
REDIS_DB = 13
RECORD_TASK = "forsun_test.record"


@attrs.define
class Worker:
    """A running worker consuming ``queue``; its tasks append JSON records to the Redis
    list ``records_key``."""

    process: subprocess.Popen[bytes]
    queue: str
    records_key: str
    redis: redis.Redis
    log_path: Path

    def records(self) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.records_key, 0, -1)]

    def wait_for(self, key: str, timeout: float = 15.0) -> list[dict]:
        """The records of plan ``key``, once there is at least one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [record for record in self.records() if record["forsun_key"] == key]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"the worker ran no task for {key} within {timeout:g}s:\n"
                             f"{self.log_path.read_text(errors='replace')[-3000:]}")


def _delete_queue(queue: str) -> None:
    from kombu import Connection

    with Connection(BROKER, connect_timeout=5) as connection:
        connection.default_channel.queue_delete(queue)


@pytest.fixture(scope="session")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """``celery -A celery_worker_tasks worker --pool=solo`` on a queue of its own."""
    require_server("RabbitMQ", "127.0.0.1", 5672)
    require_server("Redis", "127.0.0.1", 6379)
    token = uuid.uuid4().hex[:12]
    queue, records_key = f"forsun-test-{token}", f"forsun-celery-test:{token}"
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    log_path = tmp_path_factory.mktemp("celery-worker") / "worker.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]),
               FORSUN_TEST_RECORDS=records_key, FORSUN_TEST_REDIS_DB=str(REDIS_DB),
               FORSUN_TEST_BROKER=BROKER)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_worker_tasks", "worker",
             "--pool=solo", "-c", "1", "--without-mingle", "--without-gossip",
             "-Q", queue, "-n", f"{queue}@%h", "--loglevel=INFO"],
            cwd=HERE, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    started = Worker(process, queue, records_key, client, log_path)
    try:
        deadline = time.monotonic() + 60
        while not client.exists(f"{records_key}:ready"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the celery worker did not start:\n"
                                   f"{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield started
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        client.delete(records_key, f"{records_key}:ready")
        client.close()
        _delete_queue(queue)


class StalledBroker:
    """A TCP listener that accepts one connection and answers nothing until ``hold``
    seconds have passed (or :meth:`close`), then hangs up and stops listening: a client
    sending to it waits at least ``hold`` seconds and then fails."""

    def __init__(self, hold: float) -> None:
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(hold,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _serve(self, hold: float) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        self.listener.close()
        self.done.wait(hold)
        connection.close()

    def close(self) -> None:
        self.done.set()
        self.listener.close()
        self.thread.join(5)


class CountingProxy:
    """A TCP proxy in front of RabbitMQ that counts the connections made through it (to
    see connections reused); :attr:`url` is a broker URL through it."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.open = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", 5672))
            with self.lock:
                self.accepted += 1
                self.open += 1
            ends = [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, ends), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, ends), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, ends: list) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with self.lock:
            if ends:
                ends.clear()
                self.open -= 1
        for end in (source, sink):
            end.close()

    def wait_open(self, count: int, timeout: float = 5.0) -> int:
        """The number of open connections, once it is ``count`` (or at the timeout)."""
        deadline = time.monotonic() + timeout
        while self.open != count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.open

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def proxy() -> Iterator[CountingProxy]:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    counting = CountingProxy()
    yield counting
    counting.close()


class CeleryTarget(ActionTarget):
    """The conformance suite's view of the worker: a delivery is a task the worker ran,
    identified by the ``forsun_key``/``forsun_ts`` headers it received."""

    passes_timestamp = True
    blocking = True

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stalled: list[StalledBroker] = []

    def ok_params(self) -> dict[str, str]:
        return {"method": RECORD_TASK, "queue": self.worker.queue, "broker": BROKER}

    def failing_params(self) -> dict[str, str]:
        return {**self.ok_params(), "args": "[not json"}

    def retry_params(self) -> dict[str, str]:
        return {**self.ok_params(), "broker": f"amqp://guest:guest@127.0.0.1:{free_port()}//"}

    def slow_params(self, seconds: float) -> dict[str, str]:
        broker = StalledBroker(seconds)
        self.stalled.append(broker)
        return {**self.ok_params(), "broker": broker.url}

    def missing_params(self) -> dict[str, str]:
        return {"queue": self.worker.queue, "broker": BROKER}

    async def deliveries(self) -> list[tuple[str, int | None]]:
        return [(record["forsun_key"], record["forsun_ts"]) for record in self.worker.records()]

    def close(self) -> None:
        for broker in self.stalled:
            broker.close()


@pytest.fixture
def celery_target(worker: Worker) -> Iterator[CeleryTarget]:
    target = CeleryTarget(worker)
    yield target
    target.close()
