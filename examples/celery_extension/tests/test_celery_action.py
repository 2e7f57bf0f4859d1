"""What is special to the celery action: its params as the worker receives them, where the
broker comes from, reused connections and the errors it reports."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

import forsun_action_celery
from celery_extension import DEFAULT_BROKER, CeleryAction, CeleryExtension
from forsun.action import ActionError
from forsun.options import Options
from forsun.plugins import collect_actions, get_plugin_manager
from forsun.testing.fixtures import fire_plan
from forsun.testing.options import make_options
from forsun.testing.services import free_port


def build_action(options: Options):
    """The celery action as forsund builds it from the entry point's registration."""
    pm = get_plugin_manager(only=[forsun_action_celery.plugin])
    return collect_actions(pm)["celery"].factory(options)


@pytest.fixture
def params(worker) -> dict[str, str]:
    return {"method": "forsun_test.record", "queue": worker.queue}


async def test_args_kwargs_and_the_forsun_headers_reach_the_task(worker, params) -> None:
    action = build_action(make_options())
    await fire_plan(action, {**params, "args": '[1, "two", [3]]',
                             "kwargs": '{"k": "v", "n": null}'}, key="order/42", ts=1_700_000_123)
    [record] = worker.wait_for("order/42")
    assert record["forsun_ts"] == 1_700_000_123
    assert record["args"] == [1, "two", [3]]
    assert record["kwargs"] == {"k": "v", "n": None}
    assert record["queue"] == worker.queue


async def test_without_args_the_task_gets_no_arguments(worker, params) -> None:
    await fire_plan(build_action(make_options()), params, key="bare")
    [record] = worker.wait_for("bare")
    assert (record["args"], record["kwargs"]) == ([], {})


async def test_priority_countdown_and_expires_reach_the_worker(worker, params) -> None:
    sent = time.time()
    await fire_plan(build_action(make_options()),
                    {**params, "priority": "7", "countdown": "1", "expires": "3600"}, key="timed")
    [record] = worker.wait_for("timed")
    assert record["priority"] == 7
    eta = datetime.fromisoformat(record["eta"]).timestamp()
    assert sent + 0.5 <= eta <= time.time() + 1
    assert datetime.fromisoformat(record["expires"]).timestamp() >= sent + 3500


async def test_the_broker_option_serves_plans_without_a_broker_param(worker, params,
                                                                      proxy) -> None:
    action = build_action(make_options(action_celery_broker=proxy.url))
    await fire_plan(action, params, key="via-option")
    worker.wait_for("via-option")
    assert proxy.accepted >= 1


async def test_the_broker_param_wins_over_the_option(worker, params) -> None:
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    action = build_action(make_options(action_celery_broker=dead))
    await fire_plan(action, {**params, "broker": DEFAULT_BROKER}, key="param-wins")
    worker.wait_for("param-wins")
    with pytest.raises(ActionError) as caught:
        await fire_plan(action, params, key="option-used")
    assert caught.value.retry
    assert dead.replace("guest:guest", "guest:**") in str(caught.value)


async def test_without_the_option_the_default_broker_is_used(worker, params) -> None:
    # Loaded with --extension alone, no plugin declares --action-celery-broker.
    assert DEFAULT_BROKER == "amqp://guest:guest@127.0.0.1:5672//"
    await fire_plan(build_action(Options()), params, key="default-broker")
    worker.wait_for("default-broker")


async def test_sends_reuse_one_connection_per_broker(worker, params, proxy) -> None:
    action = build_action(make_options())
    for number in range(5):
        await fire_plan(action, {**params, "broker": proxy.url}, key=f"reuse/{number}")
    for number in range(5):
        worker.wait_for(f"reuse/{number}")
    assert proxy.accepted == 1


async def test_uninit_closes_the_connections_and_a_later_send_reconnects(
        worker, params, proxy) -> None:
    action = build_action(make_options())
    await fire_plan(action, {**params, "broker": proxy.url}, key="before-uninit")
    assert proxy.wait_open(1) == 1
    CeleryExtension().uninit()
    assert proxy.wait_open(0) == 0
    await fire_plan(action, {**params, "broker": proxy.url}, key="after-uninit")
    worker.wait_for("after-uninit")
    assert proxy.accepted == 2


@pytest.mark.parametrize(("param", "value", "named"), [
    ("args", '{"a": 1}', "params.args must be a JSON list"),
    ("args", "[1,", "params.args is not JSON"),
    ("kwargs", "[1]", "params.kwargs must be a JSON object"),
    ("priority", "high", "params.priority: 'high' is not a number"),
    ("priority", "256", "params.priority: 256 is not in 0..255"),
    ("countdown", "soon", "params.countdown"),
    ("expires", "never", "params.expires"),
])
async def test_bad_params_fail_without_retry_naming_the_param(params, param, value,
                                                             named) -> None:
    with pytest.raises(ActionError) as caught:
        await fire_plan(build_action(make_options()), {**params, param: value}, key="bad")
    assert caught.value.retry is False
    assert named in str(caught.value)


def test_the_task_name_is_required_when_the_plan_is_created() -> None:
    action = build_action(make_options())
    action.validate({"method": "tasks.add"})
    with pytest.raises(Exception, match=r"params\.method is required"):
        action.validate({"queue": "q"})


def test_the_legacy_class_is_what_the_entry_point_registers() -> None:
    action = build_action(make_options())
    assert action.legacy_cls is CeleryAction
