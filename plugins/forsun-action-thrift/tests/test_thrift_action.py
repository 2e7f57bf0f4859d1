"""What is special to the thrift action: what forsun_call carries, pooling, failures."""

from __future__ import annotations

import asyncio

import pytest

from forsun.action import ActionError
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.testing.options import make_options
from forsun.testing.services import free_port
from forsun_action_thrift.action import ThriftAction, ThriftTarget


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"port": "thrift"}, "params.port"),
        ({"port": "65536"}, "params.port"),
        ({"max_connections": "0"}, "params.max_connections"),
    ],
)
def test_validate_refuses_bad_params(params, names) -> None:
    with pytest.raises(ForsunPlanError) as info:
        ThriftAction(make_options()).validate(params)
    assert info.value.code == ErrorCode.STORE_FAILED
    assert names in info.value.message


def test_validate_accepts_every_param() -> None:
    ThriftAction(make_options()).validate({"host": "127.0.0.1", "port": "5643",
                                           "max_connections": "2"})


def test_defaults() -> None:
    target = ThriftTarget.from_params({}, make_options(action_thrift_max_connections=3))
    assert target == ThriftTarget("127.0.0.1", 5643, 3)


async def test_forsun_call_carries_key_due_second_and_all_params(action, fire,
                                                                 recorder) -> None:
    params = {"port": str(recorder.port), "order": "42", "note": "payé ✓; \"quoted\""}
    await fire(action, params, key="orders/42", ts=1_800_000_123)
    assert recorder.calls == [("orders/42", 1_800_000_123, params)]


async def test_a_server_without_forsun_call_fails_without_retry(
        action, fire, other_service_server) -> None:
    with pytest.raises(ActionError) as info:
        await fire(action, {"port": str(other_service_server.port)})
    assert not info.value.retry
    assert f"thrift 127.0.0.1:{other_service_server.port}" in str(info.value)
    assert "forsun_call" in str(info.value)


async def test_unknown_method_answer_fails_without_retry(action, fire, recorder) -> None:
    with pytest.raises(ActionError) as info:
        await fire(action, {"port": str(recorder.port), "answer": "unknown_method"})
    assert not info.value.retry


@pytest.mark.parametrize("answer", ["internal_error", "drop"])
async def test_a_failing_handler_asks_for_retry_naming_target(action, fire, recorder,
                                                              answer) -> None:
    params = {"port": str(recorder.port), "answer": answer}
    with pytest.raises(ActionError) as info:
        await fire(action, params)
    assert info.value.retry
    assert f"thrift 127.0.0.1:{recorder.port}" in str(info.value)
    await fire(action, {"port": str(recorder.port)}, key="next")
    assert [call[0] for call in recorder.calls] == ["plan-key", "next"]


async def test_an_unreachable_server_asks_for_retry_naming_target(action, fire) -> None:
    port = free_port()
    with pytest.raises(ActionError) as info:
        await fire(action, {"port": str(port)})
    assert info.value.retry
    assert f"thrift 127.0.0.1:{port}" in str(info.value)


async def test_a_reply_slower_than_the_timeout_option_asks_for_retry(fire, recorder) -> None:
    action = ThriftAction(make_options(action_thrift_timeout=0.2))
    with pytest.raises(ActionError) as info:
        await fire(action, {"port": str(recorder.port), "sleep": "1"})
    await action.close()
    assert info.value.retry
    assert f"thrift 127.0.0.1:{recorder.port}" in str(info.value)


async def test_firings_reuse_pooled_connections(action, fire, recorder) -> None:
    for number in range(5):
        await fire(action, {"port": str(recorder.port)}, key=str(number))
    assert [call[0] for call in recorder.calls] == ["0", "1", "2", "3", "4"]
    assert recorder.socket.accepted == 1


async def test_max_connections_param_bounds_the_pool(action, fire, recorder) -> None:
    params = {"port": str(recorder.port), "sleep": "0.1", "max_connections": "2"}
    await asyncio.gather(*(fire(action, params, key=str(n)) for n in range(6)))
    assert len(recorder.calls) == 6
    assert recorder.socket.accepted == 2


async def test_max_connections_option_is_the_default(fire, recorder) -> None:
    action = ThriftAction(make_options(action_thrift_max_connections=1))
    params = {"port": str(recorder.port), "sleep": "0.05"}
    await asyncio.gather(*(fire(action, params, key=str(n)) for n in range(3)))
    await action.close()
    assert len(recorder.calls) == 3
    assert recorder.socket.accepted == 1


async def test_a_connection_the_server_closed_is_not_reused(action, fire,
                                                            thrift_server) -> None:
    server = thrift_server(client_timeout_ms=100)
    await fire(action, {"port": str(server.port)}, key="first")
    await asyncio.sleep(0.4)  # the server drops the idle connection
    await fire(action, {"port": str(server.port)}, key="second")
    assert [call[0] for call in server.calls] == ["first", "second"]
    assert server.socket.accepted == 2


async def test_close_drops_the_pool_and_a_later_firing_reconnects(fire, recorder) -> None:
    action = ThriftAction(make_options())
    await fire(action, {"port": str(recorder.port)}, key="before")
    await action.close()
    await fire(action, {"port": str(recorder.port)}, key="after")
    await action.close()
    assert [call[0] for call in recorder.calls] == ["before", "after"]
    assert recorder.socket.accepted == 2
