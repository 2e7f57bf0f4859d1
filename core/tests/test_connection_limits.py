"""Connections that only hold descriptors, against real forsund processes with a lowered
descriptor limit: the connection cap, closing idle connections, pausing accepts when
descriptors run out. Firings due meanwhile must go out, forsund must not spin and its log
must stay small."""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from forsun.client import Client
from forsun.frontends.connections import Connections
from forsun.testing.process import ForsundProcess
from forsun.testing.services import closed_by_peer

#: forsund's descriptor limit in these tests (a common default soft limit).
FILES = 1024
#: Idle connections opened to each front end: more than forsund may have descriptors.
IDLE = 1100
#: Seconds the idle connections are held while firings are watched.
HOLD = 6.0
#: CPU share (of one core) above which forsund counts as spinning; idle it uses ~2 %.
SPINNING = 0.25
#: Log bytes the whole test may write (the old code wrote megabytes a second).
LOG_BUDGET = 64 << 10


@pytest.fixture
def client_files() -> Iterator[None]:
    """Lets this process hold the idle connections of the test (two front ends' worth)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * IDLE + 256
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"the test process may open only {hard} descriptors, {need} are needed")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_idle(port: int, count: int) -> list[socket.socket]:
    """Up to ``count`` connections to ``port`` that send nothing; fewer when one cannot be
    made (a server that stopped accepting has a full accept queue: connecting times out)."""
    opened = []
    for _ in range(count):
        try:
            opened.append(socket.create_connection(("127.0.0.1", port), timeout=3))
        except OSError:
            break
    return opened


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def fire_every_second(daemon: ForsundProcess, record: Path) -> None:
    """A plan whose shell action appends its due second to ``record``, every second."""
    with Client("127.0.0.1", daemon.port) as client:
        client.create_timeout("tick", 1, count=0, action="shell",
                              params={"cmd": f"echo $FORSUN_TIMESTAMP >> {record}"})
    wait_for(lambda: fired_seconds(record), "the first firing")


def fired_seconds(record: Path) -> set[int]:
    """The due seconds the plan of :func:`fire_every_second` has fired at so far."""
    if not record.exists():
        return set()
    return {int(line) for line in record.read_text().splitlines(keepends=True)
            if line.endswith("\n")}


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def cpu_share(daemon: ForsundProcess, seconds: float) -> float:
    """forsund's CPU time over the next ``seconds``, as a share of one core."""
    used, began = daemon.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return (daemon.cpu_seconds() - used) / (time.monotonic() - began)


def serves_http(daemon: ForsundProcess) -> bool:
    try:
        return daemon.call("GET", "/v1/ping", timeout=5)["errcode"] == 0
    except OSError:
        return False


def serves_thrift(daemon: ForsundProcess) -> bool:
    try:
        with Client("127.0.0.1", daemon.port, timeout=5) as client:
            return client.ping() == 0
    except ConnectionError:
        return False


def test_idle_connections_beyond_the_descriptor_limit_leave_firings_alone(tmp_path, forsunds,
                                                                          client_files):
    """1 100 idle connections to each front end of a forsund allowed 1 024 descriptors:
    each front end keeps a quarter of them; every due firing still goes out; no spinning;
    a small log; the Thrift port still serves (the longest idle connection makes room)."""
    record = tmp_path / "fired"
    daemon = forsunds.start("--driver-mem-store-file", "", max_files=FILES)
    idle: list[socket.socket] = []
    try:
        fire_every_second(daemon, record)
        began = time.time()
        idle += open_idle(daemon.port, IDLE) + open_idle(daemon.http_port, IDLE)
        share = cpu_share(daemon, HOLD)
        thrift_served = serves_thrift(daemon)
        held_until = time.time()
        close_all(idle)
        wait_for(lambda: max(fired_seconds(record)) > held_until + 1, "firings after the hold")
        missed = set(range(int(began) + 1, int(held_until) + 1)) - fired_seconds(record)
        assert not missed, f"firings due at {sorted(missed)} did not go out"
        assert share < SPINNING, f"forsund used {share:.0%} of a core holding idle connections"
        assert len(idle) == 2 * IDLE, "connecting timed out: forsund stopped accepting"
        assert thrift_served
        wait_for(lambda: serves_http(daemon), "HTTP to serve again")
        info = daemon.api("GET", "/v1/info")
        assert info["max_connections"] == info["http_max_connections"] == str(FILES // 4)
        assert (int(info["connection_evicted_count"]) + int(info["connection_refused_count"])
                >= IDLE - FILES // 4)
        assert int(info["http_connection_refused_count"]) >= IDLE - FILES // 4
        assert daemon.log_path.stat().st_size < LOG_BUDGET
        assert "Too many open files" not in daemon.log_text()
    finally:
        close_all(idle)


def test_accepts_pause_when_descriptors_run_out(forsunds, client_files):
    """With a cap above the descriptor limit, accept() fails with EMFILE: forsund pauses
    accepting instead of spinning, logs the failure once per window with a count of the
    repeats, and serves again once descriptors are free. (A few connections go to HTTP:
    its accept queue is shorter than what waits at the Thrift port.)"""
    daemon = forsunds.start("--driver-mem-store-file", "", "--max-connections", "5000",
                            "--log-repeat-window", "2", max_files=FILES)
    idle: list[socket.socket] = []
    try:
        idle += open_idle(daemon.port, IDLE) + open_idle(daemon.http_port, 50)
        share = cpu_share(daemon, HOLD)
        close_all(idle)
        wait_for(lambda: serves_thrift(daemon) and serves_http(daemon), "serving again")
        assert share < SPINNING, f"forsund used {share:.0%} of a core out of descriptors"
        assert len(idle) == IDLE + 50, "connecting timed out: forsund stopped accepting"
        log = daemon.log_text()
        assert "cannot accept connections (Too many open files); pausing accepts" in log
        assert "more like this in the last 2 s" in log
        assert daemon.log_path.stat().st_size < LOG_BUDGET
    finally:
        close_all(idle)


def test_idle_connections_are_closed_and_the_client_reconnects(forsunds):
    daemon = forsunds.start("--driver-mem-store-file", "", "--idle-timeout", "1")
    raw_thrift, raw_http = open_idle(daemon.port, 1) + open_idle(daemon.http_port, 1)
    assert closed_by_peer(raw_thrift) and closed_by_peer(raw_http)
    with Client("127.0.0.1", daemon.port, max_connections=1) as client:
        assert client.ping() == 0
        connected = int(client.info()["connected_count"])
        wait_for(lambda: int(daemon.api("GET", "/v1/info")["connection_idle_closed_count"])
                 >= 2, "the pooled connection to be closed")
        assert client.ping() == 0
        assert int(client.info()["connected_count"]) == connected + 1


def test_at_the_cap_thrift_closes_the_longest_idle_and_http_refuses(forsunds):
    daemon = forsunds.start("--driver-mem-store-file", "", "--max-connections", "4")
    thrift = open_idle(daemon.port, 4)
    time.sleep(0.2)  # all four are served (and waiting) before the fifth comes
    with Client("127.0.0.1", daemon.port) as client:
        assert client.ping() == 0
    assert closed_by_peer(thrift[0])
    assert not any(closed_by_peer(sock, 0.2) for sock in thrift[1:])
    http = open_idle(daemon.http_port, 4)
    time.sleep(0.2)
    assert not serves_http(daemon)
    close_all(http)
    wait_for(lambda: serves_http(daemon), "HTTP to serve again")
    close_all(thrift)


class _Connection:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_the_connection_waiting_longest_is_dropped_first():
    connections: Connections[_Connection] = Connections()
    conns = [_Connection() for _ in range(3)]
    for conn in conns:
        connections.add(conn)  # each waits from now, after the previous one
        time.sleep(0.01)
    connections.busy(conns[0])  # the first is no longer waiting
    assert connections.drop_longest_waiting()
    assert conns[1].closed and not conns[2].closed and not conns[0].closed
    assert len(connections) == 2
    connections.wait(conns[0])  # waits again, now the newest
    assert connections.drop_waiting_since(time.monotonic() - 0.005) == 1
    assert conns[2].closed and not conns[0].closed
    assert connections.drop_waiting_since(time.monotonic()) == 1
    assert conns[0].closed and len(connections) == 0
    assert not connections.drop_longest_waiting()
