"""``forsund migrate`` between our own stores and files, against a real Redis: state kept,
re-runs replace, bad input named by line or key, a locked source refused, catch-up of a
plan whose time passed, and a property test of the round trip mem → ndjson → redis → mem."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from migrate_helpers import exported, migrate, ndjson_plans

from forsun.testing.fixtures import build_plan
from forsun.testing.services import require_server

REDIS_DB = 13


@pytest.fixture
def redis_url() -> str:
    """A redis store URL with a prefix of its own on the shared Redis (removed after)."""
    require_server("Redis", "127.0.0.1", 6379)
    prefix = f"migrate-{uuid.uuid4().hex[:8]}"
    yield f"redis://127.0.0.1:6379/{REDIS_DB}?prefix={prefix}"
    client = redis.Redis(db=REDIS_DB)
    names = list(client.scan_iter(match=f"{{{prefix}}}:*"))
    if names:
        client.delete(*names)


def write_ndjson(path: Path, lines: list[dict | bytes]) -> None:
    path.write_bytes(b"".join((line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n"
                             for line in lines))


def plan_dict(key: str, **fields) -> dict:
    return build_plan(key, **fields).to_dict()


def test_state_kept_through_every_store_and_rerun_replaces(tmp_path, redis_url):
    plans = [plan_dict("delay", second=7, count=5, current_count=2, next_time=2_000_000_000,
                       last_timeout=1_999_999_993, created_time=1_999_999_979.5),
             plan_dict("fixed", is_time_out=False, second=0, minute=30, hour=3, count=0,
                       next_time=2_000_012_600, action="http",
                       params={"url": "http://127.0.0.1:1/ключ", "method": "POST"}),
             plan_dict("ключ-é", params={"cmd": "echo значение"}, status=1)]
    write_ndjson(tmp_path / "in.ndjson", plans)
    first = migrate(f"ndjson:{tmp_path / 'in.ndjson'}", "mem:a.db", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "read         3" in first.stdout and "in DST       3: agrees" in first.stdout
    again = migrate(f"ndjson:{tmp_path / 'in.ndjson'}", "mem:a.db", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "in DST       3 (before: 3): agrees" in again.stdout
    assert "replacing a plan DST held: 3" in again.stdout
    assert "replaced key 'delay': DST held a plan with this key" in again.stderr
    to_redis = migrate("mem:a.db", redis_url, cwd=tmp_path)
    assert to_redis.returncode == 0, to_redis.stderr
    back = exported(redis_url, tmp_path)
    expected = {plan["key"]: plan for plan in plans}
    expected["ключ-é"]["status"] = 0  # it was executing: written waiting, fires again
    assert back == expected


def test_prefix_and_dry_run(tmp_path):
    write_ndjson(tmp_path / "in.ndjson", [plan_dict("a:1"), plan_dict("a:2"), plan_dict("b:1")])
    dry = migrate(f"ndjson:{tmp_path / 'in.ndjson'}", "mem:a.db", "--prefix", "a:", "--dry-run",
                  cwd=tmp_path)
    assert dry.returncode == 0 and "would write  2" in dry.stdout, dry
    assert not list(tmp_path.glob("a.db*"))
    done = migrate(f"ndjson:{tmp_path / 'in.ndjson'}", "mem:a.db", "--prefix", "a:",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert set(exported("mem:a.db", tmp_path)) == {"a:1", "a:2"}


def test_stdin_and_stdout(tmp_path):
    lines = [orjson.dumps(plan_dict(key)) for key in ("a", "b")]
    done = migrate("ndjson:-", "mem:a.db", cwd=tmp_path, stdin=b"\n".join(lines) + b"\n")
    assert done.returncode == 0 and "written      2" in done.stdout, done
    out = migrate("mem:a.db", "ndjson:-", cwd=tmp_path)
    assert out.returncode == 0 and "written      2" in out.stderr, out
    assert [orjson.loads(line) for line in out.stdout.splitlines()] == list(map(orjson.loads,
                                                                                lines))


def test_bad_lines_are_named_and_the_rest_is_written(tmp_path):
    write_ndjson(tmp_path / "in.ndjson", [
        plan_dict("good-1"), b"{not json", plan_dict("odd", action="teleport"),
        plan_dict("good-1", params={"cmd": "later"}), plan_dict("bad", second=99999),
        plan_dict("good-2")])
    done = migrate(f"ndjson:{tmp_path / 'in.ndjson'}", "mem:a.db", cwd=tmp_path)
    assert done.returncode == 1
    assert "skipped (not JSON) line 2:" in done.stderr
    assert "skipped (unknown action) key 'odd': action 'teleport' is not installed" \
        in done.stderr
    assert ("skipped (duplicate key) line 4: key 'good-1' already read at line 1, which is "
            "kept") in done.stderr
    assert "skipped (invalid) line 5: key 'bad': second:" in done.stderr
    assert "written      2" in done.stdout and "in DST       2: agrees" in done.stdout
    kept = exported("mem:a.db", tmp_path)
    assert set(kept) == {"good-1", "good-2"}
    assert kept["good-1"]["params"] == {"cmd": "echo good-1"}


def test_a_source_in_use_is_refused_naming_the_pid(tmp_path, forsunds):
    daemon = forsunds.start("--driver-mem-store-file", str(tmp_path / "live.db"))
    done = migrate(f"mem:{tmp_path / 'live.db'}", "ndjson:out.ndjson", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pid {daemon.proc.pid}" in lines[0], done.stderr
    assert not (tmp_path / "out.ndjson").exists()


def test_a_redis_source_with_live_nodes_is_refused(tmp_path, forsunds, redis_url):
    prefix = redis_url.split("prefix=")[1]
    forsunds.start("--driver=redis", "--driver-redis-db", str(REDIS_DB),
                   "--driver-redis-prefix", prefix, "--driver-redis-server-id", "7")
    done = migrate(redis_url, "ndjson:out.ndjson", cwd=tmp_path)
    assert done.returncode == 1
    assert "in use by running forsund node(s) 7" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_unknown_endpoint_and_read_only_source_are_one_line(tmp_path):
    for args, words in ((("nosuch:x", "mem:a.db"), "unknown scheme 'nosuch'"),
                        (("mem:a.db", "forsun0:x"), "can only be read"),
                        (("mem:a.db", "redis://127.0.0.1:6379/0?colour=red"),
                         "unknown parameter 'colour'"),
                        (("mem:a.db", "redis://127.0.0.1:1/0?prefix=x&retries=0"),
                         "redis://127.0.0.1:1/0?prefix=x&retries=0: ")):
        done = migrate(*args, cwd=tmp_path)
        assert done.returncode == 1 and words in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_plan_whose_time_passed_fires_once_on_start(tmp_path, forsunds, http_receiver):
    """Its next_time passed while it was moved: it fires at start (catch-up), once."""
    passed = int(time.time()) - 120
    write_ndjson(tmp_path / "in.ndjson", [plan_dict(
        "late", next_time=passed, count=1, action="http",
        params={"url": http_receiver.url("/late")})])
    done = migrate(f"ndjson:{tmp_path / 'in.ndjson'}", "mem:live.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    forsunds.start("--driver-mem-store-file", str(tmp_path / "live.db"))
    http_receiver.wait(1, timeout=15)
    time.sleep(2)
    assert [request.key for request in http_receiver.requests] == ["late"]


keys = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n"),
               min_size=1, max_size=20)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
int16 = st.integers(-(1 << 15), (1 << 15) - 1)


@st.composite
def random_plans(draw) -> dict:
    is_time_out = draw(st.booleans())
    fixed = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day": (1, 31),
             "month": (1, 12), "week": (0, 7)}
    fields = {name: draw(st.integers(0, 32767) if is_time_out
                         else st.one_of(st.just(-1), st.integers(*bounds)))
              for name, bounds in fixed.items()}
    return plan_dict(
        draw(keys), is_time_out=is_time_out, count=draw(st.integers(0, 32767)),
        current_count=draw(st.integers(0, 32767)), status=0,
        next_time=draw(st.integers(0, 2**40)), last_timeout=draw(st.integers(0, 2**40)),
        created_time=draw(st.floats(0, 2e9, allow_nan=False)),
        action="shell", params={"cmd": draw(texts.filter(lambda t: t and "\0" not in t)),
                                **draw(st.dictionaries(texts.map("x".__add__), texts,
                                                       max_size=4))},
        **fields)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(random_plans(), min_size=1, max_size=30, unique_by=lambda p: p["key"]))
def test_round_trip_mem_ndjson_redis_mem(tmp_path_factory, redis_url, plans):
    work = tmp_path_factory.mktemp("round")
    write_ndjson(work / "in.ndjson", plans)
    for src, dst in ((f"ndjson:{work / 'in.ndjson'}", "mem:first.db"),
                     ("mem:first.db", "ndjson:mid.ndjson"),
                     ("ndjson:mid.ndjson", redis_url),
                     (redis_url, "mem:last.db")):
        done = migrate(src, dst, cwd=work)
        assert done.returncode == 0, (src, dst, done.stdout, done.stderr)
    assert ndjson_plans(work / "mid.ndjson") == {p["key"]: p for p in plans}
    assert exported("mem:last.db", work) == {p["key"]: p for p in plans}
    client = redis.Redis(db=REDIS_DB)
    client.delete(*client.scan_iter(match=f"{{{redis_url.split('prefix=')[1]}}}:*"))


def test_params_an_action_refuses_are_named(tmp_path):
    write_ndjson(tmp_path / "in.ndjson", [plan_dict("ok"), plan_dict("no-cmd", params={}),
                                          plan_dict("bad-url", action="http",
                                                    params={"url": "ftp://x"})])
    done = migrate(f"ndjson:{tmp_path / 'in.ndjson'}", "mem:a.db", cwd=tmp_path)
    assert done.returncode == 1
    assert "skipped (invalid) key 'no-cmd': params.cmd is required" in done.stderr
    assert "skipped (invalid) key 'bad-url': params.url" in done.stderr
    assert set(exported("mem:a.db", tmp_path)) == {"ok"}


def test_a_terminal_gets_a_progress_bar(tmp_path):
    """On a terminal, a rich bar with the count, the rate and, when the total is known, the
    ETA (it is erased at the end)."""
    import pexpect

    write_ndjson(tmp_path / "in.ndjson", [plan_dict(f"k{i:06d}") for i in range(40_000)])
    child = pexpect.spawn(sys.executable, ["-m", "forsun.commands.forsund", "migrate",
                                           f"ndjson:{tmp_path / 'in.ndjson'}", "mem:a.db"],
                          cwd=str(tmp_path), timeout=120, encoding="utf-8",
                          dimensions=(24, 160))
    child.expect(r"migrating .*[1-9]\d*/\?\S*\s+[\d,]+ plans/s")  # count, rate (escapes)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "in DST       40000: agrees" in child.before
    child = pexpect.spawn(sys.executable, ["-m", "forsun.commands.forsund", "migrate",
                                           "mem:a.db", "ndjson:out.ndjson"],
                          cwd=str(tmp_path), timeout=120, encoding="utf-8",
                          dimensions=(24, 160))
    child.expect(r"\d+/40000.*plans/s.*\d:\d\d:\d\d")  # a known total: an ETA
    child.expect(pexpect.EOF)
