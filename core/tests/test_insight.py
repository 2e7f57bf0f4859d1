"""What operators see and do, against a real forsund (``--http``): metrics, overview, nodes,
what is due, history, the failures list with retry and discard, fire now; through the HTTP
API, :class:`forsun.client.HttpClient` and the ``forsun`` CLI.

Plans call the http action on a local receiver whose answers a test scripts (a path
answering 500, 500, then 200 fails its first attempt and its one retry, then succeeds
when retried from the failures list).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from forsun.client import HttpClient
from forsun.errors import ForsunPlanError
from forsun.testing.process import ForsundProcess
from forsun.testing.receiver import HttpReceiver, Reply

ZONE = "Asia/Shanghai"
FORSUN = Path(sys.executable).with_name("forsun")


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def forsund(module_forsunds) -> ForsundProcess:
    return module_forsunds.start("--timezone", ZONE, "--retry-delay-seconds", "0.2",
                                 "--retry-max-count", "1", "--claim-ahead", "0")


@pytest.fixture(scope="module")
def client(forsund) -> HttpClient:
    return HttpClient(f"127.0.0.1:{forsund.http_port}")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def delay_plan(forsund: ForsundProcess, key: str, url: str, seconds: int = 1) -> dict[str, Any]:
    return forsund.api("PUT", "/v1/plan", {"key": key, "seconds": seconds, "count": 1,
                                           "action": "http", "params": {"url": url}})


def until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """``check()``'s first true value within ``timeout`` seconds, else the test fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"not true within {timeout}s: {check}")


def scrape(client: HttpClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``GET /metrics`` by name and labels."""
    samples = {}
    for family in text_string_to_metric_families(client.metrics()):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_a_failing_occurrence_reaches_failures_and_a_retry_clears_it(forsund, client,
                                                                      receiver):
    key, path = unique("flaky"), f"/{unique('flaky')}"
    receiver.answer(path, Reply(500), Reply(500), Reply(200))
    plan = delay_plan(forsund, key, receiver.url(path))
    page = until(lambda: (found := client.failures(prefix=key)).total and found)
    [failure] = page.items
    assert (failure.id, failure.key, failure.due) == (f"{plan['next_time']}:{key}", key,
                                                      plan["next_time"])
    assert (failure.action, failure.attempts, failure.node) == ("http", 2, "0")
    assert "HTTP 500" in failure.error
    assert failure.plan.params == {"url": receiver.url(path)}
    outcomes = client.history(key)
    assert [(o["attempt"], o["ok"]) for o in outcomes] == [(1, False), (0, False)]
    assert outcomes[0]["due"] == plan["next_time"] and "HTTP 500" in outcomes[0]["error"]
    assert client.retry([failure.id]) == 1
    receiver.wait(3, path=path)
    until(lambda: client.failures(prefix=key).total == 0)
    newest = client.history(key)[0]
    assert (newest["ok"], newest["error"], newest["due"]) == (True, None, plan["next_time"])


def test_fire_now_leaves_the_schedule_and_a_failed_one_can_be_discarded(forsund, client,
                                                                        receiver):
    key, path = unique("fire"), f"/{unique('fire')}"
    plan = delay_plan(forsund, key, receiver.url(path), seconds=3600)
    client.fire(key)
    receiver.wait(1, path=path)
    assert forsund.api("GET", f"/v1/plan?key={key}")["next_time"] == plan["next_time"]
    assert client.next_times(key, 3) == [plan["next_time"]]  # count 1: one occurrence left
    with pytest.raises(ForsunPlanError) as missing:
        client.fire(unique("nothing"))
    assert missing.value.code == 1003
    broken = unique("broken")
    delay_plan(forsund, broken, receiver.url("/status/503"), seconds=3600)
    client.fire(broken)
    [failure] = until(lambda: client.failures(prefix=broken).items)
    assert failure.attempts == 2
    assert client.discard([failure.id, "0:nothing"]) == 1
    assert client.failures(prefix=broken).total == 0


def test_overview_nodes_and_due(forsund, client, receiver):
    key = unique("soon")
    plan = delay_plan(forsund, key, receiver.url("/soon"), seconds=30)
    overview = client.overview()
    assert overview["timezone"] == ZONE and overview["node"] == "0"
    assert overview["plans"] >= 1 and overview["due_next_60s"] >= 1
    assert abs(overview["time"] - time.time()) < 5
    assert set(overview["lateness_ms"]) == {"p50", "p99"}
    assert client.nodes() == [{"node": "0", "alive_until": None, "self": True,
                               "in_flight": overview["in_flight"]}]
    due = client.due(seconds=60)
    assert key in [p.key for p in due]
    assert [p.next_time for p in due] == sorted(p.next_time for p in due)
    assert key not in [p.key for p in client.due(seconds=10)]
    delay_plan(forsund, unique("soon2"), receiver.url("/soon"), seconds=40)
    assert [p.key for p in client.due(seconds=60, limit=1)] == [client.due(seconds=60)[0].key]
    assert len(client.due(seconds=60, limit=2)) == 2
    assert plan["next_time"] in [p.next_time for p in due]


def test_metrics_scrape_cleanly_and_move_after_firings(forsund, client, receiver):
    ok = (("action", "http"), ("result", "ok"))
    before = scrape(client)
    key, path = unique("counted"), f"/{unique('counted')}"
    delay_plan(forsund, key, receiver.url(path))
    receiver.wait(1, path=path)
    until(lambda: client.history(key))
    after = scrape(client)
    assert after["forsun_firings_total", ok] == before.get(("forsun_firings_total", ok), 0) + 1
    late = ("forsun_firing_start_lateness_seconds_count", ())
    assert after[late] == before.get(late, 0) + 1
    assert after["forsun_firing_end_lateness_seconds_count", ()] == after[late]
    assert after["forsun_plans", ()] >= 0
    assert ("forsun_in_flight", ()) in after and ("forsun_plans_due_soon", ()) in after
    assert ("forsun_failures", ()) in after
    assert after["process_cpu_seconds_total", ()] > 0
    gets = ("forsun_requests_total", (("frontend", "http"), ("method", "GET"),
                                      ("result", "ok")))
    assert after[gets] > before.get(gets, 0)
    claims = [labels for name, labels in after if name == "forsun_store_operation_seconds_count"]
    assert (("operation", "claim"),) in claims
    assert all(dict(labels).keys() <= {"action", "result", "frontend", "method", "operation",
                                       "le"} for _, labels in after)


def test_metrics_off_leaves_the_process_figures(forsunds):
    off = forsunds.start("--no-metrics")
    names = {name for name, _ in scrape(HttpClient(f"127.0.0.1:{off.http_port}"))}
    assert "process_cpu_seconds_total" in names
    assert not any(name.startswith("forsun_") for name in names)


# -- the forsun CLI ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def forsun(forsund) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORSUN_")}

    def run(*args: str, http: bool = True) -> subprocess.CompletedProcess[str]:
        address = ["--http", f"127.0.0.1:{forsund.http_port}"] if http else []
        return subprocess.run([str(FORSUN), "--port", str(forsund.port), *address, *args],
                              capture_output=True, text=True, env=env, timeout=30)

    return run


def test_the_cli_lists_retries_and_discards_failures(forsund, forsun, receiver):
    key, path = unique("cli"), f"/{unique('cli')}"
    receiver.answer(path, Reply(500), Reply(500), Reply(200))
    plan = delay_plan(forsund, key, receiver.url(path))
    failure_id = f"{plan['next_time']}:{key}"
    until(lambda: failure_id in forsun("failures", key).stdout)
    listed = forsun("-v", "failures", key)
    assert listed.returncode == 0, listed
    assert "1 failure(s)" in listed.stdout and "HTTP 500" in listed.stdout
    assert "+08:00" in listed.stdout  # failed_at in the server's zone
    data = json.loads(forsun("--json", "failures", key).stdout)
    assert [item["id"] for item in data["items"]] == [failure_id]
    history = json.loads(forsun("--json", "history", key).stdout)
    assert [o["attempt"] for o in history] == [1, 0]
    retried = forsun("retry", failure_id)
    assert (retried.returncode, retried.stdout) == (0, "1 failure(s) fired again\n"), retried
    receiver.wait(3, path=path)
    until(lambda: failure_id not in forsun("failures", key).stdout)
    assert json.loads(forsun("--json", "discard", "all").stdout)["discarded"] >= 0


def test_the_cli_fires_a_plan_and_shows_its_history(forsund, forsun, receiver):
    key, path = unique("clifire"), f"/{unique('clifire')}"
    delay_plan(forsund, key, receiver.url(path), seconds=3600)
    fired = forsun("fire", key)
    assert (fired.returncode, fired.stdout) == (0, f"{key} fired\n"), fired
    receiver.wait(1, path=path)
    until(lambda: "ok" in forsun("history", key).stdout)
    assert forsun("history", unique("none")).stdout.startswith("no outcomes")
    refused = forsun("fire", unique("none"))
    assert refused.returncode == 1 and "1003" in refused.stdout + refused.stderr


def test_the_cli_says_which_commands_need_http(forsun):
    result = forsun("-v", "failures", http=False)
    assert result.returncode == 2
    assert "--http HOST:PORT" in result.stderr


def test_failures_survive_a_kill_of_forsund(forsunds, receiver):
    args = ("--retry-max-count", "0")
    first = forsunds.start(*args)
    client = HttpClient(f"127.0.0.1:{first.http_port}")
    key = unique("durable")
    delay_plan(first, key, receiver.url("/status/500"))
    [failure] = until(lambda: client.failures(prefix=key).items)
    first.kill()
    again = forsunds.start(*args)
    restarted = HttpClient(f"127.0.0.1:{again.http_port}")
    assert restarted.failures(prefix=key).items == [failure]
    assert restarted.discard(None) == 1
    again.stop()
    assert HttpClient(f"127.0.0.1:{forsunds.start(*args).http_port}").failures().total == 0


def test_thrift_calls_are_counted_by_name(forsund, client):
    from forsun.client import Client

    thrift_ping = ("forsun_requests_total", (("frontend", "thrift"), ("method", "ping"),
                                             ("result", "ok")))
    before = scrape(client).get(thrift_ping, 0)
    with Client("127.0.0.1", forsund.port) as thrift:
        thrift.ping()
        thrift.ping()
    assert scrape(client)[thrift_ping] == before + 2


def test_a_thrift_create_is_timed_as_one_store_put(forsund, client):
    from forsun.client import Client

    put = (("operation", "put"),)
    created = ("forsun_requests_total", (("frontend", "thrift"), ("method", "createTimeout"),
                                         ("result", "ok")))
    before = scrape(client)
    with Client("127.0.0.1", forsund.port) as thrift:
        thrift.create_timeout(unique("timed"), 3600, action="http",
                              params={"url": "http://127.0.0.1:9/"})
    after = scrape(client)
    puts = after["forsun_store_operation_seconds_count", put]
    assert puts == before.get(("forsun_store_operation_seconds_count", put), 0) + 1
    assert after["forsun_store_operation_seconds_bucket", (("le", "+Inf"), *put)] == puts
    assert after["forsun_store_operation_seconds_sum", put] > 0
    assert after[created] == before.get(created, 0) + 1


def test_the_http_client_and_the_cli_send_the_token(forsunds):
    guarded = forsunds.start("--token", "sesame")
    address = f"127.0.0.1:{guarded.http_port}"
    assert HttpClient(address, token="sesame").failures().total == 0
    with pytest.raises(ForsunPlanError) as refused:
        HttpClient(address).overview()
    assert refused.value.code == 1001 and "token" in refused.value.message
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORSUN_")}
    base = [str(FORSUN), "--port", str(guarded.port), "--http", address, "--json"]
    ok = subprocess.run([*base, "--token", "sesame", "failures"], capture_output=True,
                        text=True, env=env, timeout=30)
    assert json.loads(ok.stdout)["total"] == 0, ok
    no = subprocess.run([*base, "failures"], capture_output=True, text=True, env=env,
                        timeout=30)
    assert no.returncode == 1 and "error 1001" in no.stderr, no


def test_a_node_that_fires_nothing_refuses_fire_now(forsunds):
    serving = forsunds.start("--server-mode", "SERVER")
    serving.api("PUT", "/v1/plan", {"key": "idle", "seconds": 3600, "count": 1,
                                    "action": "shell", "params": {"cmd": "true"}})
    with pytest.raises(ForsunPlanError, match="fires no plan") as refused:
        HttpClient(f"127.0.0.1:{serving.http_port}").fire("idle")
    assert refused.value.code == 1001
