"""Item 5: each action with only its default params (the fewest the original accepted)
against a real target, in the original forsund and in ours: what reaches the target, and
when the occurrence counts as done; retry delays and the status of a finished plan with
``status_expried``.

Both servers run with ``ACTION_RETRY_DELAY_SECONDS=1`` and ``ACTION_RETRY_DELAY_RATE=3``,
so a retry shows quickly and the original's delays (4, 7, 10 s) tell from others.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator

import pytest
from compat_http import call
from differences import kept
from original import Server, server_pair
from targets import HttpReceiver, thrift_receiver

from forsun.testing.services import reachable, require_server

#: The thrift action's default port.
THRIFT_PORT = 5643
#: The redis db the workspace's action tests use.
REDIS_DB = 11
ENV = {"ACTION_RETRY_DELAY_SECONDS": "1", "ACTION_RETRY_DELAY_RATE": "3",
       "COMPAT_SERVER_VAR": "inherited"}
#: The original's retry delays with those settings: 1 + 1 * 3 * n seconds.
RETRY_DELAYS = [4, 7, 10]


@pytest.fixture(scope="module")
def servers(venv, tmp_path_factory) -> Iterator[tuple[Server, Server]]:
    with server_pair(venv, tmp_path_factory.mktemp("actions"), env=ENV) as pair:
        yield pair


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


def fire(server: Server, key: str, action: str, params: dict[str, str],
         seconds: int = 1) -> dict:
    """Create a plan firing once, ``seconds`` from now; the created plan."""
    answer = call(server, "PUT", "/v1/plan", {"key": key, "seconds": seconds, "count": 1,
                                              "action": action, "params": params})[1]
    assert answer["errcode"] == 0, (server.name, answer)
    return answer["data"]


def wait(predicate, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout:g}s: {what}"
        time.sleep(0.05)


def counter(server: Server, name: str) -> int:
    return int(call(server, "GET", "/v1/info")[1]["data"][name])


# -- shell -------------------------------------------------------------------------------------


def test_shell_is_done_once_started(servers, tmp_path):
    """The occurrence is done (its action counts as executed) while the command still runs;
    the command runs in /tmp with FORSUN_TIMESTAMP, its exit status does not matter,
    nothing is retried."""
    for server in servers:
        started, finished = tmp_path / f"{server.name}.started", tmp_path / f"{server.name}.end"
        retried = counter(server, "action_retried_count")
        executed = counter(server, "action_executed_count")
        plan = fire(server, f"shell:{server.name}", "shell", {
            "cmd": f'pwd > {started}; echo "$FORSUN_TIMESTAMP" >> {started}; sleep 6; '
                   f"echo done > {finished}; exit 3"})
        wait(lambda s=started: s.exists() and len(s.read_text().split()) == 2,
             what=f"{server.name} started the command")
        wait(lambda s=server, e=executed: counter(s, "action_executed_count") == e + 1,
             timeout=4, what=f"{server.name} counted the occurrence done")
        assert not finished.exists(), f"{server.name} waited for the command"
        assert started.read_text().split() == ["/tmp", str(plan["next_time"])]
        wait(finished.exists, what=f"{server.name} let the command finish")
        time.sleep(3)  # a retry (1 + 1 s after a failure) would have come
        assert counter(server, "action_retried_count") == retried, server.name


def test_shell_environment(servers, tmp_path):
    kept("shell-environment")
    seen = {}
    for server in servers:
        out = tmp_path / f"{server.name}.env"
        fire(server, f"shell-env:{server.name}", "shell",
             {"cmd": f'echo "$FORSUN_KEY|$COMPAT_SERVER_VAR" > {out}'})
        wait(out.exists, what=f"{server.name} ran the command")
        seen[server.name] = out.read_text().strip()
    assert seen == {"original": "|", "ours": "shell-env:ours|inherited"}


# -- http --------------------------------------------------------------------------------------


def test_http(servers, receiver):
    kept("http-headers")
    seen = {}
    for server in servers:
        plan = fire(server, f"http:{server.name}", "http",
                    {"url": receiver.url(f"/{server.name}")})
        [request] = receiver.wait_for(f"/{server.name}")
        assert request.headers["x-forsun-timestamp"] == str(plan["next_time"])
        seen[server.name] = request
    original, ours = seen["original"], seen["ours"]
    assert (ours.method, ours.body) == (original.method, original.body) == ("GET", b"")
    assert set(original.headers) - {"connection", "accept-encoding"} <= set(ours.headers)
    assert ours.headers["x-forsun-key"] == "http:ours"
    assert ours.headers["user-agent"].startswith("forsun/")


def test_retry_delays(servers, receiver):
    delays = {}
    for server in servers:
        fire(server, f"retry:{server.name}", "http",
             {"url": receiver.url(f"/fail-{server.name}")})
    for server in servers:
        requests = receiver.wait_for(f"/fail-{server.name}", count=4, timeout=40)
        delays[server.name] = [b.at - a.at for a, b in itertools.pairwise(requests)]
    for name in ("original", "ours"):  # the original fires up to a second late
        assert all(abs(seen - due) <= 1.5 for seen, due in zip(delays[name], RETRY_DELAYS,
                                                              strict=True)), (name, delays)


def test_status_of_a_finished_plan(venv, tmp_path, receiver):
    statuses = {}
    with server_pair(venv, tmp_path, env={"STORE_STATUS_EXPRIED": "60"}) as servers:
        statuses = _statuses(servers, receiver)
    assert statuses["original"] == [1, -1]
    assert statuses["ours"] == statuses["original"]


def _statuses(servers: tuple[Server, Server], receiver: HttpReceiver) -> dict[str, list[int]]:
    statuses = {}
    for server in servers:
        for outcome in ("ok", "fail"):
            fire(server, f"status-{outcome}:{server.name}", "http",
                 {"url": receiver.url(f"/{'fail-' if outcome == 'fail' else ''}s-{server.name}")})
    time.sleep(4)
    for server in servers:
        statuses[server.name] = [
            call(server, "GET", f"/v1/plan?key=status-{outcome}:{server.name}")[1]["data"]
            ["status"] for outcome in ("ok", "fail")]
    return statuses


# -- redis, mysql, thrift ----------------------------------------------------------------------


def test_redis(servers):
    require_server("Redis", "127.0.0.1", 6379)
    import redis

    client = redis.Redis("127.0.0.1", 6379, db=REDIS_DB)
    keys = {server.name: f"forsun-compat:{uuid.uuid4().hex}" for server in servers}
    try:
        for server in servers:  # the original wanted two params at least
            fire(server, f"redis:{server.name}", "redis",
                 {"command": f"RPUSH {keys[server.name]} a b", "selected_db": str(REDIS_DB)})
        for server in servers:
            wait(lambda k=keys[server.name]: client.llen(k) == 2, what=f"{server.name} pushed")
            assert client.lrange(keys[server.name], 0, -1) == [b"a", b"b"]
    finally:
        client.delete(*keys.values())
        client.close()


def test_mysql(servers):
    require_server("MariaDB", "127.0.0.1", 3306)
    import pymysql

    connection = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                                 database="test", autocommit=True)
    table = f"forsun_compat_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} (server VARCHAR(20))")
    try:
        for server in servers:  # the original wanted four params at least
            fire(server, f"mysql:{server.name}", "mysql", {
                "sql": f"INSERT INTO {table} VALUES ('{server.name}')", "db": "test",
                "user": "root", "passwd": ""})

        def rows() -> list[str]:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT server FROM {table} ORDER BY server")
                return [row[0] for row in cursor.fetchall()]

        wait(lambda: len(rows()) == 2, what="both inserted")
        assert rows() == ["original", "ours"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        connection.close()


def test_thrift(servers):
    if reachable("127.0.0.1", THRIFT_PORT, 0.2):
        pytest.skip(f"port {THRIFT_PORT} (the thrift action's default) is in use")
    with thrift_receiver(THRIFT_PORT) as calls:
        due = {}
        for server in servers:  # the original refused empty params
            due[server.name] = fire(server, f"thrift:{server.name}", "thrift",
                                    {"note": "compat"})["next_time"]
        wait(lambda: len(calls) == 2, what="both called forsun_call")
    assert sorted(calls) == sorted((f"thrift:{name}", ts, {"note": "compat"})
                                   for name, ts in due.items())


# -- beanstalk ---------------------------------------------------------------------------------


def test_beanstalk_ttr_and_priority(servers):
    """The original's beanstalk action needs beanstalkt, which is on no package index any
    more, so only ours runs: its job has the original's time to run (7200, from the
    original's source) and priority (2^31, beanstalkt's put() default)."""
    require_server("beanstalkd", "127.0.0.1", 11300)
    import greenstalk

    tube = f"forsun-compat-{uuid.uuid4().hex[:12]}"
    original, ours = servers
    assert "beanstalk" not in call(original, "GET", "/v1/info")[1]["data"]["actions"]
    with greenstalk.Client(("127.0.0.1", 11300), watch=tube) as client:
        fire(ours, "beanstalk:ours", "beanstalk", {"name": tube, "body": "job"})
        job = client.reserve(timeout=20)
        stats = client.stats_job(job)
        client.delete(job)
    assert (job.body, stats["pri"], stats["ttr"], stats["delay"]) == ("job", 2**31, 7200, 0)


def test_http_request_timeout_default():
    """The original's 120 s (the legacy extension scenario reads ACTION_HTTP_REQUEST_TIMEOUT
    in both servers); here the option's default itself."""
    from forsun.plugins import collect_options, get_plugin_manager

    options = {opt.name: opt for opts in collect_options(get_plugin_manager()).values()
               for opt in opts}
    assert options["action-http-request-timeout"].default == 120
