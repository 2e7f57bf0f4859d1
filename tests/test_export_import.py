"""``forsun export`` / ``forsun import`` between two running forsunds (mem store, then the
redis store): every plan moves with its schedule state, bad lines are reported by number
and the rest imported, ``--stop-on-error`` stops at the first."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest
import redis

from forsun.client import export_plans
from forsun.testing.services import require_server

FORSUN = [sys.executable, "-m", "forsun.commands.forsun"]
REDIS_DB = 13


def forsun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FORSUN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def fill(daemon) -> None:
    daemon.api("PUT", "/v1/plan", {"key": "delay", "seconds": 3600, "count": 5,
                                   "action": "shell", "params": {"cmd": "true"}})
    daemon.api("POST", "/v1/plan", {"key": "fixed:ключ", "second": 0, "minute": 30,
                                    "hour": 3, "action": "http",
                                    "params": {"url": "http://127.0.0.1:1/é"}})
    daemon.api("POST", "/v1/plans", [{"key": f"bulk:{n}", "seconds": 600 + n,
                                      "is_time_out": True, "action": "shell",
                                      "params": {"cmd": "true"}} for n in range(2500)])


@pytest.fixture
def redis_prefix():
    require_server("Redis", "127.0.0.1", 6379)
    prefix = f"io{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis.Redis(db=REDIS_DB)
    names = list(client.scan_iter(match=f"{{{prefix}}}:*"))
    if names:
        client.delete(*names)


def test_export_then_import_keeps_every_plan(tmp_path, forsunds, redis_prefix):
    source = forsunds.start("--driver-mem-store-file", str(tmp_path / "a.db"),
                            workdir=tmp_path)
    fill(source)
    done = forsun("export", "--http", source.http_url, "-o", "all.ndjson", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2502 plans" in done.stderr
    lines = (tmp_path / "all.ndjson").read_bytes().splitlines()
    exported = {plan["key"]: plan for plan in map(orjson.loads, lines)}
    assert len(exported) == 2502
    assert exported["delay"] == source.api("GET", "/v1/plan?key=delay")
    part = forsun("export", "--http", source.http_url, "--prefix", "fixed:", cwd=tmp_path)
    assert [orjson.loads(line)["key"] for line in part.stdout.splitlines()] == ["fixed:ключ"]

    (tmp_path / "b").mkdir()
    target = forsunds.start("--driver=redis", "--driver-redis-db", str(REDIS_DB),
                            "--driver-redis-prefix", redis_prefix, workdir=tmp_path / "b")
    done = forsun("import", "all.ndjson", "--http", target.http_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2502 plans stored, 0 lines refused" in done.stderr
    assert {plan["key"]: plan for plan in export_plans(target.http_url)} == exported


def test_import_reports_bad_lines_and_goes_on(tmp_path, forsunds):
    daemon = forsunds.start("--driver-mem-store-file", str(tmp_path / "a.db"),
                            workdir=tmp_path)
    good = {"key": "good", "second": 60, "is_time_out": True, "count": 2,
            "current_count": 1, "next_time": 2_000_000_000, "last_timeout": 1_999_999_940,
            "created_time": 1_999_999_000.0, "action": "shell", "params": {"cmd": "true"}}
    lines = [orjson.dumps(good), b"{oops", orjson.dumps({**good, "key": "x",
                                                         "action": "teleport"}),
             orjson.dumps({**good, "key": "no-time", "next_time": 0}),
             orjson.dumps({**good, "key": "later"})]
    (tmp_path / "in.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    done = forsun("import", "in.ndjson", "--http", daemon.http_url, cwd=tmp_path)
    assert done.returncode == 1
    assert "line 2: not JSON" in done.stderr
    assert "line 3: [1006]" in done.stderr and "teleport" in done.stderr
    assert "line 4: [1007] next_time is required" in done.stderr
    assert "2 plans stored, 3 lines refused" in done.stderr
    assert daemon.api("GET", "/v1/keys") == ["good", "later"]
    assert daemon.api("GET", "/v1/plan?key=good") == {**good, "status": 0, "minute": -1,
                                                      "hour": -1, "day": -1, "month": -1,
                                                      "week": -1}

    daemon.api("DELETE", "/v1/plan?key=later")
    done = forsun("import", "in.ndjson", "--stop-on-error", "--http", daemon.http_url,
                  cwd=tmp_path)
    assert done.returncode == 1 and "line 2: not JSON" in done.stderr
    assert "line 3" not in done.stderr
    assert "later" not in daemon.api("GET", "/v1/keys")


def test_unreachable_server_is_one_line_exit_3(tmp_path):
    done = forsun("export", "--http", "http://127.0.0.1:1", cwd=tmp_path)
    assert done.returncode == 3
    assert len(done.stderr.strip().splitlines()) == 1 and "127.0.0.1:1" in done.stderr
