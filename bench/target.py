"""Servers the bench talks to: a :class:`Target` is any forsun-compatible server reached
through its public APIs (Thrift RPC and HTTP); :class:`Forsund` is one the bench started.

Control-plane calls (info, bulk creates, removes) go through the standard library's HTTP
client; load generators that need concurrency live in the scenario modules.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import orjson
import psutil

from forsun.client import Client
from forsun.testing.process import ForsundProcess, start_forsund

#: Repository root (the bench runs from it; ``--extension-path`` points here).
REPO = Path(__file__).resolve().parent.parent
#: ``--extension`` value registering the ``noop`` action (see :mod:`bench.noop`).
NOOP_EXTENSION = "bench.noop.NoopExtension"


class ApiError(Exception):
    """A reply with a non-zero errcode, or a non-JSON / unexpected HTTP answer."""

    def __init__(self, status: int, errcode: int, message: str) -> None:
        super().__init__(f"HTTP {status}, errcode {errcode}: {message}")
        self.status = status
        self.errcode = errcode


@attrs.define
class Target:
    """A forsun-compatible server: ``name`` labels its rows in the results. ``thrift_pid``
    and ``http_pid``: the processes serving each port, when the bench started them (their
    CPU time is read from /proc; None for a server elsewhere)."""

    name: str
    host: str
    thrift_port: int
    http_port: int
    thrift_pid: int | None = None
    http_pid: int | None = None

    @classmethod
    def parse(cls, text: str) -> Target:
        """``HOST:THRIFT_PORT:HTTP_PORT`` (as ``--compare`` takes it)."""
        host, thrift_port, http_port = text.rsplit(":", 2)
        return cls(f"compare {text}", host, int(thrift_port), int(http_port))

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json", timeout: float = 300.0) -> Any:
        """One HTTP API call; the envelope's ``data``. Raises :class:`ApiError`."""
        conn = http.client.HTTPConnection(self.host, self.http_port, timeout=timeout)
        try:
            headers = {"Content-Type": content_type} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            reply = orjson.loads(raw)  # a loader's parse of big bulk replies stays small
        except ValueError:
            raise ApiError(response.status, -1, raw[:200].decode(errors="replace")) from None
        if not isinstance(reply, dict) or reply.get("errcode") != 0:
            errcode = reply.get("errcode", -1) if isinstance(reply, dict) else -1
            message = reply.get("errmsg", "") if isinstance(reply, dict) else str(reply)[:200]
            raise ApiError(response.status, errcode, message)
        return reply.get("data")

    def info(self) -> dict[str, str]:
        return self.request("GET", "/v1/info")

    def cpu_seconds(self, port: str) -> float | None:
        """CPU time (user + system) used so far by the process serving ``port`` ("thrift"
        or "http"); None when the bench does not know that process."""
        pid = self.thrift_pid if port == "thrift" else self.http_pid
        return None if pid is None else cpu_seconds(pid)

    def counter(self, name: str) -> int:
        return int(self.info().get(name, 0))

    def client(self, connections: int = 1) -> Client:
        return Client(self.host, self.thrift_port, max_connections=connections, timeout=60.0)

    def create_bulk(self, plans: Sequence[dict[str, Any]], batch: int = 10_000) -> float:
        """Create ``plans`` (HTTP request objects with ``is_time_out``) with ``POST
        /v1/plans?reply=keys`` in requests of ``batch``; a server without that route (the
        original forsun) gets them one by one over Thrift from 4 threads. Returns the seconds
        it took."""
        started = time.perf_counter()
        try:
            for start in range(0, len(plans), batch):
                body = json.dumps(plans[start:start + batch]).encode()
                self.request("POST", "/v1/plans?reply=keys", body)
        except ApiError as exc:
            if exc.status not in (404, 405):
                raise
            self._create_over_thrift(plans[start:])
        return time.perf_counter() - started

    def _create_over_thrift(self, plans: Sequence[dict[str, Any]]) -> None:
        with self.client(4) as client, concurrent.futures.ThreadPoolExecutor(4) as pool:
            def create(plan: dict[str, Any]) -> None:
                fields = [plan.get(name, -1) for name in
                          ("seconds", "minute", "hour", "day", "month", "week")]
                if plan.get("is_time_out"):
                    client.create_timeout(plan["key"], *fields, count=plan.get("count", 1),
                                          action=plan["action"], params=plan["params"])
                else:
                    client.create(plan["key"], *fields, action=plan["action"],
                                  params=plan["params"])

            list(pool.map(create, plans))

    def remove_prefix(self, prefix: str) -> int:
        """Remove every plan whose key starts with ``prefix`` (Thrift ``getKeys`` +
        ``remove``); the number removed. Used to leave a compared server as it was."""
        with self.client(4) as client:
            keys = client.get_keys(prefix)

            def remove(key: str) -> bool:
                try:
                    client.remove(key)
                except Exception:  # fired and gone meanwhile
                    return False
                return True

            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                return sum(pool.map(remove, keys))


@attrs.define
class Forsund:
    """A forsund child process the bench started; ``started_in``: seconds from exec until
    both ports accepted connections."""

    process: ForsundProcess
    workdir: Path
    started_in: float

    @classmethod
    def start(cls, workdir: Path, args: Iterable[str] = (), *, noop: bool = False,
              ready_timeout: float = 1800.0) -> Forsund:
        """Start forsund in ``workdir`` (its mem store file lives there). ``noop`` also
        loads the bench's ``noop`` action."""
        workdir.mkdir(parents=True, exist_ok=True)
        argv = list(args)
        if noop:
            argv += ["--extension-path", str(REPO), "--extension", NOOP_EXTENSION]
        started = time.perf_counter()
        process = start_forsund(argv, workdir=workdir, ready_timeout=ready_timeout)
        return cls(process, workdir, time.perf_counter() - started)

    @property
    def target(self) -> Target:
        pid = self.process.proc.pid
        return Target("forsund", "127.0.0.1", self.process.port, self.process.http_port,
                      pid, pid)

    def stop(self) -> float:
        """SIGTERM and wait; the seconds it took to exit."""
        started = time.perf_counter()
        self.process.stop(timeout=600.0)
        return time.perf_counter() - started

    def kill(self) -> None:
        self.process.kill()


def cpu_seconds(pid: int) -> float:
    """CPU time process ``pid`` used so far: the sum of its threads' time on a CPU from
    /proc/PID/task/*/schedstat (nanoseconds: the clock ticks of /proc/PID/stat are 10 ms,
    too coarse for a few hundred calls), or psutil's user + system time without it."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                total += int((task / "schedstat").read_text().split()[0])
    except OSError:
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    return total / 1e9


def wait_counter(target: Target, name: str, at_least: int, deadline: float,
                 poll: float = 0.05) -> float | None:
    """Poll ``info`` until counter ``name`` reaches ``at_least``; the wall-clock time
    (``time.time()``) it was first seen there, or None at ``deadline``."""
    while time.time() < deadline:
        if target.counter(name) >= at_least:
            return time.time()
        time.sleep(poll)
    return None


def sleep_until(when: float) -> None:
    delay = when - time.time()
    if delay > 0:
        time.sleep(delay)


def next_second(margin: float) -> int:
    """The first whole second at least ``margin`` seconds from now."""
    return math.ceil(time.time() + margin)
