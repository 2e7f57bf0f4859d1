"""One plan of each bundled action kind fires through a running forsund (issue 10).

One forsund child process; six plans created over HTTP (``PUT /v1/plan``), all due two
seconds later: shell writes a file, http calls the shared receiver, redis pushes to a list of its
own on 127.0.0.1:6379 db 11, mysql inserts into a table of its own in db ``test``, beanstalk
puts a job into a tube of its own, thrift calls ``forsun_call`` on a thriftpy2 server run by
the test. Each effect is read back with an independent client and must carry the plan's key
(and the due second where the action hands it over), exactly once, and not before the due
second.
"""

from __future__ import annotations

import shlex
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import greenstalk
import pymysql
import pytest
import redis
from thriftpy2.server import TThreadedServer
from thriftpy2.thrift import TProcessor
from thriftpy2.transport import TServerSocket

from forsun.idl import load_idl
from forsun.testing.services import free_port, require_server

HOST = "127.0.0.1"
REDIS_DB = 11
#: Seconds from the plans' due second until every effect must have been observed.
GRACE = 10.0


class _ForsunCalls:
    """The thrift target's handler: records ``forsun_call(key, ts, params)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, dict[str, str]]] = []

    def forsun_call(self, key: str, ts: int, params: dict[str, str]) -> None:
        self.calls.append((key, ts, dict(params)))


@pytest.fixture
def thrift_calls() -> Iterator[tuple[int, list[tuple[str, int, dict[str, str]]]]]:
    """A thriftpy2 server of forsun's IDL on a free port: ``(port, calls)``."""
    handler = _ForsunCalls()
    port = free_port()
    socket = TServerSocket(host=HOST, port=port)
    server = TThreadedServer(TProcessor(load_idl().Forsun, handler), socket, daemon=True)
    threading.Thread(target=server.serve, daemon=True).start()
    yield port, handler.calls
    server.close()
    socket.close()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    require_server("Redis", HOST, 6379)
    client = redis.Redis(HOST, 6379, db=REDIS_DB)
    yield client
    client.close()


@pytest.fixture
def mysql_table() -> Iterator[tuple[pymysql.connections.Connection, str]]:
    """A table of this test's own in db ``test``: ``(connection, name)``; dropped after."""
    require_server("MariaDB", HOST, 3306)
    connection = pymysql.connect(host=HOST, port=3306, user="root", password="",
                                 database="test", autocommit=True)
    name = f"forsun_e2e_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (id INT AUTO_INCREMENT PRIMARY KEY, "
                       "plan_key VARCHAR(100) NOT NULL)")
    yield connection, name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
    connection.close()


@pytest.fixture
def beanstalk() -> Iterator[tuple[greenstalk.Client, str]]:
    """A greenstalk client watching a tube of this test's own: ``(client, tube)``."""
    require_server("beanstalkd", HOST, 11300)
    tube = f"forsun-e2e-{uuid.uuid4().hex[:12]}"
    client = greenstalk.Client((HOST, 11300), watch=tube)
    yield client, tube
    client.close()


def test_one_plan_of_each_action_fires(tmp_path: Path, forsunds, http_receiver, thrift_calls,
                                       redis_client, mysql_table, beanstalk):
    thrift_port, calls = thrift_calls
    mysql, table = mysql_table
    jobs_client, tube = beanstalk
    run = uuid.uuid4().hex[:12]
    key = {kind: f"e2e-{kind}-{run}"
           for kind in ("shell", "http", "redis", "mysql", "beanstalk", "thrift")}
    shell_out = tmp_path / "shell.out"
    redis_list = f"forsun-e2e:{run}"
    thrift_params = {"port": str(thrift_port), "order": "42"}
    params = {
        "shell": {"cmd": f'printf "%s %s" "$FORSUN_KEY" "$FORSUN_TIMESTAMP" '
                         f"> {shlex.quote(str(shell_out))}"},
        "http": {"url": http_receiver.url("/e2e"), "method": "post", "body": "paid"},
        "redis": {"selected_db": str(REDIS_DB), "command": f"RPUSH {redis_list} {key['redis']}"},
        "mysql": {"db": "test", "sql": f"INSERT INTO {table} (plan_key) "
                                       f"VALUES ('{key['mysql']}')"},
        "beanstalk": {"name": tube, "body": key["beanstalk"]},
        "thrift": thrift_params,
    }
    jobs: list[str] = []

    def observed() -> dict[str, list[Any]]:
        with mysql.cursor() as cursor:
            cursor.execute(f"SELECT plan_key FROM {table} ORDER BY id")
            rows = [row[0] for row in cursor.fetchall()]
        while True:
            try:
                job = jobs_client.reserve(timeout=0)
            except greenstalk.TimedOutError:
                break
            jobs.append(job.body)
            jobs_client.delete(job)
        return {
            "shell": [shell_out.read_text()] if shell_out.exists() else [],
            "http": [(r.method, r.path, r.body, r.key, r.ts) for r in http_receiver.requests],
            "redis": [item.decode() for item in redis_client.lrange(redis_list, 0, -1)],
            "mysql": rows,
            "beanstalk": list(jobs),
            "thrift": list(calls),
        }

    daemon = forsunds.start("--driver-mem-store-file", "")
    try:
        created = daemon.api("PUT", "/v1/plan", timeout=30, body=[
            {"key": key[kind], "seconds": 6, "count": 1, "action": kind,
             "params": params[kind]} for kind in key])
        [due] = {plan["next_time"] for plan in created}
        time.sleep(max(0.0, due - 0.5 - time.time()))  # (due is 5 to 6 s away)
        early = {kind: seen for kind, seen in observed().items() if seen}
        assert time.time() < due, "the check for early firings came too late"
        assert not early, f"fired before the due second {due}"
        deadline = due + GRACE
        while not all(observed().values()) and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # a second delivery of any plan would show by now
        seen = observed()
    finally:
        daemon.stop()
        redis_client.delete(redis_list)
    assert seen == {
        "shell": [f"{key['shell']} {due}"],
        "http": [("POST", "/e2e", b"paid", key["http"], due)],
        "redis": [key["redis"]],
        "mysql": [key["mysql"]],
        "beanstalk": [key["beanstalk"]],
        "thrift": [(key["thrift"], due, thrift_params)],
    }, daemon.log_text()
