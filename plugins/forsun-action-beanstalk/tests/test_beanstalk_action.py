"""What is special to the beanstalk action: its params (observed in ``stats-job``), tubes,
pooling and failures."""

from __future__ import annotations

import asyncio
import signal

import pytest

from forsun.action import ActionError
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.testing.options import make_options
from forsun.testing.services import free_port
from forsun_action_beanstalk.action import BeanstalkAction, Job


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"name": "-starts-with-hyphen"}, "params.name"),
        ({"name": "has space"}, "params.name"),
        ({"name": "x" * 201}, "params.name"),
        ({"port": "eleven"}, "params.port"),
        ({"priority": "-1"}, "params.priority"),
        ({"priority": str(2**32)}, "params.priority"),
        ({"delay": "soon"}, "params.delay"),
        ({"ttr": "-5"}, "params.ttr"),
    ],
)
def test_validate_refuses_bad_params(params, names) -> None:
    with pytest.raises(ForsunPlanError) as info:
        BeanstalkAction(make_options()).validate(params)
    assert info.value.code == ErrorCode.STORE_FAILED
    assert names in info.value.message


def test_validate_accepts_every_param() -> None:
    BeanstalkAction(make_options()).validate({
        "host": "127.0.0.1", "port": "11300", "name": "orders.timeout-(v2)$_;+/x",
        "body": "{}", "priority": str(2**32 - 1), "delay": "0", "ttr": "1",
    })


def test_defaults() -> None:
    assert Job.from_params({}) == Job("127.0.0.1", 11300, "default", b"", 2**31, 0, 7200)


async def test_the_body_arrives_in_the_named_tube(action, fire, tube, watcher) -> None:
    body = 'order 42; état "payé" ✓\r\nsecond line'
    await fire(action, {"name": tube, "body": body})
    job = watcher.reserve(timeout=1)
    assert job.body == body
    assert watcher.stats_job(job)["tube"] == tube


async def test_priority_delay_and_ttr_are_set(action, fire, tube, watcher) -> None:
    await fire(action, {"name": tube, "body": "b", "priority": "7", "delay": "30",
                        "ttr": "42"})
    job = watcher.peek_delayed()
    stats = watcher.stats_job(job)
    assert (stats["pri"], stats["delay"], stats["ttr"], stats["state"]) == (
        7, 30, 42, "delayed")
    watcher.delete(job)


async def test_defaults_reach_the_server(action, fire, private_beanstalkd) -> None:
    await fire(action, {"port": str(private_beanstalkd.port)})
    job = private_beanstalkd.client.reserve(timeout=1)
    stats = private_beanstalkd.client.stats_job(job)
    # The original forsun's priority and time to run.
    assert (job.body, stats["tube"], stats["pri"], stats["delay"], stats["ttr"]) == (
        "", "default", 2**31, 0, 7200)


async def test_tubes_switch_on_a_pooled_connection(action, fire, private_beanstalkd,
                                                   drain) -> None:
    port = str(private_beanstalkd.port)
    before = private_beanstalkd.stat("total-connections")
    for tube in ("a", "b", "a", "default"):
        await fire(action, {"port": port, "name": tube, "body": tube})
    client = private_beanstalkd.client
    client.watch("a")
    client.watch("b")
    found = sorted((stats["tube"], body) for body, stats in drain(client))
    assert found == [("a", "a"), ("a", "a"), ("b", "b"), ("default", "default")]
    assert private_beanstalkd.stat("total-connections") - before == 1


async def test_an_unreachable_server_asks_for_retry_naming_target(action, fire) -> None:
    port = free_port()
    with pytest.raises(ActionError) as info:
        await fire(action, {"port": str(port), "name": "jobs"})
    assert info.value.retry
    assert f"127.0.0.1:{port} tube 'jobs'" in str(info.value)


async def test_a_job_too_big_fails_without_retry(action, fire, beanstalkd_process) -> None:
    server = beanstalkd_process("-z", "10")
    params = {"port": str(server.port), "name": "small"}
    with pytest.raises(ActionError) as info:
        await fire(action, {**params, "body": "x" * 11})
    assert not info.value.retry
    assert "JOB_TOO_BIG" in str(info.value)
    assert f"127.0.0.1:{server.port} tube 'small'" in str(info.value)
    await fire(action, {**params, "body": "x" * 10})
    assert server.stat("total-jobs") == 1


async def test_a_draining_server_asks_for_retry(action, fire, private_beanstalkd) -> None:
    private_beanstalkd.process.send_signal(signal.SIGUSR1)
    for _ in range(100):
        if private_beanstalkd.client.stats()["draining"]:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(ActionError) as info:
        await fire(action, {"port": str(private_beanstalkd.port)})
    assert info.value.retry
    assert "DRAINING" in str(info.value)


async def test_firings_reuse_pooled_connections(action, fire, private_beanstalkd,
                                                drain) -> None:
    before = private_beanstalkd.stat("total-connections")
    for number in range(5):
        await fire(action, {"port": str(private_beanstalkd.port), "body": str(number)})
    assert [body for body, _ in drain(private_beanstalkd.client)] == ["0", "1", "2", "3", "4"]
    assert private_beanstalkd.stat("total-connections") - before == 1


@pytest.mark.parametrize("size", [1, 2])
async def test_max_connections_option_bounds_the_pool(fire, private_beanstalkd,
                                                      size) -> None:
    action = BeanstalkAction(make_options(action_beanstalk_max_connections=size))
    params = {"port": str(private_beanstalkd.port)}
    before = private_beanstalkd.stat("total-connections")
    await asyncio.gather(*(fire(action, params) for _ in range(6)))
    await action.close()
    assert private_beanstalkd.stat("total-jobs") == 6
    assert private_beanstalkd.stat("total-connections") - before == size


async def test_close_drops_connections_and_a_later_firing_reconnects(
        fire, private_beanstalkd) -> None:
    action = BeanstalkAction(make_options())
    params = {"port": str(private_beanstalkd.port)}
    await fire(action, params)
    assert private_beanstalkd.stat("current-connections") == 2
    await action.close()
    for _ in range(50):
        if private_beanstalkd.stat("current-connections") == 1:
            break
        await asyncio.sleep(0.02)
    assert private_beanstalkd.stat("current-connections") == 1
    await fire(action, params)
    await action.close()
    assert private_beanstalkd.stat("total-jobs") == 2


async def test_a_restarted_server_gets_the_next_job_at_once(action, fire,
                                                            beanstalkd_process) -> None:
    first = beanstalkd_process()
    await fire(action, {"port": str(first.port)})
    first.process.terminate()
    first.process.wait(10)
    second = beanstalkd_process(port=first.port)
    await asyncio.sleep(0.05)  # let the loop see the old connection's end
    await fire(action, {"port": str(first.port), "body": "after restart"})
    assert second.client.reserve(timeout=1).body == "after restart"
