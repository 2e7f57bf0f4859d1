"""``forsund migrate`` of data written by the real programs: the original forsun 0.1.4
(installed in a cached venv, :mod:`tests/compat/original.py`) writes its mem dump and its
redis layout itself, with a delay plan part-way through its count, a fixed-time plan, every
action kind it can run (its beanstalk action's client is on no package index any more) and
non-ASCII keys and params; timerush's HASH is written as timerush's redis
backend wrote it. What our forsund then serves must be what the original had, and the delay
plan must fire the rest of its count, no more."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from migrate_helpers import exported, migrate

from forsun.testing.process import refused_start
from forsun.testing.services import in_ci, require_server

sys.path.insert(0, str(Path(__file__).parent / "compat"))
from original import original_command, original_venv, start_server

REDIS_DB = 13
#: The state our forsund must serve as the original had it.
STATE = ("key", "second", "minute", "hour", "day", "month", "week", "is_time_out", "count",
         "current_count", "next_time", "last_timeout", "created_time", "action", "params")


@pytest.fixture(scope="module")
def venv() -> Path:
    try:
        return original_venv()
    except subprocess.CalledProcessError as exc:
        message = f"cannot build the original forsun 0.1.4's venv (pip install): {exc}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def call(port: int, method: str, path: str, body: object = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["errcode"] == 0, answer
    return answer["data"]


def fill(port: int, fired: Path) -> list[str]:
    """Create the plans of every test in a running original; their keys. The delay plan
    ``count-5`` appends a line to ``fired`` every 2 s, 5 times."""
    call(port, "PUT", "/v1/plan", {"key": "count-5", "seconds": 2, "count": 5,
                                   "action": "shell", "params": {"cmd": f"echo x >> {fired}"}})
    call(port, "POST", "/v1/plan", {"key": "fixed", "second": 0, "minute": 30, "hour": 3,
                                    "action": "http",
                                    "params": {"url": "http://127.0.0.1:1/é", "method": "POST"}})
    later = {"seconds": 0, "minute": 0, "hour": 5, "count": 2}
    kinds = {"shell": {"cmd": "echo значение"},
             "http": {"url": "http://127.0.0.1:1/путь", "body": "данные"},
             "redis": {"host": "127.0.0.1", "command": "SET ключ значение"},
             "mysql": {"host": "127.0.0.1", "sql": "SELECT 'é'"},
             "thrift": {"host": "127.0.0.1", "port": "1"}}
    for action, params in kinds.items():
        call(port, "PUT", "/v1/plan", {"key": f"{action}:ключ", **later, "action": action,
                                       "params": params})
    return ["count-5", "fixed", *(f"{action}:ключ" for action in kinds)]


def run_original(venv: Path, workdir: Path, extra: list[str]) -> dict[str, dict]:
    """Start the original with ``extra``, fill it, let ``count-5`` fire twice, stop it;
    what it answered for each plan just before it stopped."""
    fired = workdir / "fired.txt"
    command = (original_command(venv, workdir) if not extra
               else [str(venv / "bin" / "forsund"), "--nodemon", *extra])
    server = start_server("original", command, workdir)
    try:
        keys = fill(server.http_port, fired)
        deadline = time.monotonic() + 20
        while not fired.exists() or len(fired.read_text().splitlines()) < 2:
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.05)
        state = {key: call(server.http_port, "GET", f"/v1/plan?key={urllib.parse.quote(key)}")
                 for key in keys}
    finally:
        server.stop()
    assert len(fired.read_text().splitlines()) == 2
    assert state["count-5"]["current_count"] == 2
    return state


def assert_served_as_before(state: dict[str, dict], workdir: Path, forsunds) -> None:
    """Our forsund on the migrated store serves every plan as the original had it, and
    ``count-5`` fires exactly its remaining three times."""
    daemon = forsunds.start("--driver-mem-store-file", str(workdir / "ours.db"),
                            workdir=workdir)
    for key, was in state.items():
        if key == "count-5":
            continue  # it fires on: compared before the start, below
        now = daemon.api("GET", f"/v1/plan?key={urllib.parse.quote(key)}")
        assert {f: now[f] for f in STATE} == {f: was[f] for f in STATE}, key
    fired = workdir / "fired.txt"
    deadline = time.monotonic() + 20
    while len(fired.read_text().splitlines()) < 5:
        assert time.monotonic() < deadline, fired.read_text()
        time.sleep(0.1)
    time.sleep(4)
    assert len(fired.read_text().splitlines()) == 5


def test_original_mem_dump(venv, tmp_path, forsunds):
    state = run_original(venv, tmp_path, [])
    dump = tmp_path / "original.dump"
    done = migrate(f"forsun0:{dump}", "mem:ours-check.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "read         7" in done.stdout and "in DST       7: agrees" in done.stdout
    migrated = exported("mem:ours-check.db", tmp_path)
    assert {f: migrated["count-5"][f] for f in STATE} == \
        {f: state["count-5"][f] for f in STATE}
    done = migrate(f"forsun0:{dump}", "mem:ours.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_served_as_before(state, tmp_path, forsunds)


def test_forsund_refuses_to_start_on_an_original_dump(venv, tmp_path):
    run_original(venv, tmp_path, [])
    dump = tmp_path / "original.dump"
    line = refused_start(["--driver-mem-store-file", str(dump)], workdir=tmp_path)
    assert f"forsund migrate forsun0:{dump} mem:{tmp_path / 'original.db'}" in line


def test_truncated_dump_keeps_what_was_read(venv, tmp_path):
    run_original(venv, tmp_path, [])
    dump = tmp_path / "original.dump"
    cut = tmp_path / "cut.dump"
    cut.write_bytes(dump.read_bytes()[:dump.stat().st_size * 2 // 3])
    done = migrate(f"forsun0:{cut}", "mem:ours.db", cwd=tmp_path)
    assert done.returncode == 1
    assert f"{cut} ends early after plan" in done.stderr
    written = int(done.stdout.split("written")[1].split()[0])
    assert 0 < written < 7
    assert len(exported("mem:ours.db", tmp_path)) == written


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    require_server("Redis", "127.0.0.1", 6379)
    prefix = f"orig{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis.Redis(db=REDIS_DB)
    names = list(client.scan_iter(match=f"{prefix}:*"))
    if names:
        client.delete(*names)


def test_original_redis_layout(venv, tmp_path, forsunds, redis_prefix):
    state = run_original(venv, tmp_path, [
        "--driver=redis", "--driver-redis-host=127.0.0.1", "--driver-redis-port=6379",
        f"--driver-redis-db={REDIS_DB}", f"--driver-redis-prefix={redis_prefix}"])
    source = f"forsun0+redis://127.0.0.1:6379/{REDIS_DB}?prefix={redis_prefix}"
    done = migrate(source, "mem:ours.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "read         7" in done.stdout and "in DST       7: agrees" in done.stdout
    assert_served_as_before(state, tmp_path, forsunds)


def test_timerush_timers(tmp_path, redis_prefix):
    """timerush's redis backend: ``HSET key uuid json({cmd, data, start, seconds})``."""
    client = redis.Redis(db=REDIS_DB)
    start = int(time.time()) - 30
    timers = {str(uuid.uuid4()): {"cmd": "http://127.0.0.1:1/cb", "data": "données",
                                  "start": start, "seconds": 3600},
              str(uuid.uuid4()): {"cmd": "https://example.com/x", "data": '{"a": 1}',
                                  "start": start, "seconds": 90061}}
    for field, timer in timers.items():
        client.hset(redis_prefix, field, json.dumps(timer))
    client.hset(redis_prefix, "broken", "{}")
    source = f"timerush+redis://127.0.0.1:6379/{REDIS_DB}?key={redis_prefix}"
    done = migrate(source, "ndjson:out.ndjson", cwd=tmp_path)
    assert done.returncode == 1
    assert "skipped (invalid) timer 'broken':" in done.stderr
    assert "written      2" in done.stdout
    plans = exported("ndjson:out.ndjson", tmp_path)
    for field, timer in timers.items():
        plan = plans[f"timerush:{field}"]
        assert plan["action"] == "timerush" and plan["count"] == 1 and plan["is_time_out"]
        assert plan["next_time"] == timer["start"] + timer["seconds"]
        assert plan["params"] == {"callback_cmd": timer["cmd"], "callback_data": timer["data"]}
    assert plans[f"timerush:{next(iter(timers))}"]["hour"] == 1
