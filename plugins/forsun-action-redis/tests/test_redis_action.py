"""What is special to the redis action: its params, command quoting, pooling, failures."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as aioredis

from forsun.action import ActionError
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.testing.options import make_options
from forsun.testing.services import free_port
from forsun_action_redis.action import RedisAction, RedisTarget
from forsun_action_redis.commands import split_commands

DB = "10"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SET k v", [["SET", "k", "v"]]),
        ("SET a 1; SET b 2;", [["SET", "a", "1"], ["SET", "b", "2"]]),
        ("SET k 'a b;c'", [["SET", "k", "a b;c"]]),
        ('SET k "x;y" ; DEL k', [["SET", "k", "x;y"], ["DEL", "k"]]),
        (r"SET k a\;b", [["SET", "k", "a;b"]]),
        (r'SET k "say \"hi\"; bye"', [["SET", "k", 'say "hi"; bye']]),
        ("SET k 'it''s'", [["SET", "k", "its"]]),
        ("SET k ''", [["SET", "k", ""]]),
        (" ; ;", []),
    ],
)
def test_split_commands(text: str, expected: list[list[str]]) -> None:
    assert split_commands(text) == expected


def test_unclosed_quote_is_refused_naming_the_param() -> None:
    with pytest.raises(ForsunPlanError) as info:
        split_commands("SET k 'open; DEL k")
    assert info.value.code == ErrorCode.STORE_FAILED
    assert "params.command" in info.value.message


@pytest.mark.parametrize(
    ("params", "code", "names"),
    [
        ({}, ErrorCode.MISSING_ARGUMENT, "params.command"),
        ({"command": "SET k 'v"}, ErrorCode.STORE_FAILED, "params.command"),
        ({"command": " ; "}, ErrorCode.STORE_FAILED, "params.command"),
        ({"command": "PING", "port": "redis"}, ErrorCode.STORE_FAILED, "params.port"),
        ({"command": "PING", "port": "70000"}, ErrorCode.STORE_FAILED, "params.port"),
        ({"command": "PING", "selected_db": "-1"}, ErrorCode.STORE_FAILED, "params.selected_db"),
        ({"command": "PING", "max_connections": "0"}, ErrorCode.STORE_FAILED,
         "params.max_connections"),
    ],
)
def test_validate_refuses_bad_params(params, code, names) -> None:
    with pytest.raises(ForsunPlanError) as info:
        RedisAction(make_options()).validate(params)
    assert info.value.code == code
    assert names in info.value.message


def test_validate_accepts_every_param() -> None:
    RedisAction(make_options()).validate({
        "host": "127.0.0.1", "port": "6379", "selected_db": "3", "password": "pw",
        "max_connections": "4", "command": "SET k v; EXPIRE k 10",
    })


def test_defaults() -> None:
    target = RedisTarget.from_params({"command": "PING"}, make_options())
    assert (target.host, target.port, target.db, target.password) == ("127.0.0.1", 6379, 0, "")
    assert target.max_connections == make_options().action_redis_max_connections


async def test_command_runs_on_the_selected_db(action, fire, shared_redis, prefix) -> None:
    await fire(action, {"command": f"SET {prefix}k hello", "selected_db": DB})
    assert await shared_redis.get(f"{prefix}k") == "hello"
    db0 = aioredis.Redis(host="127.0.0.1", port=6379, db=0)
    assert await db0.exists(f"{prefix}k") == 0
    await db0.aclose()


async def test_several_commands_run_in_order_with_quoting(action, fire, shared_redis,
                                                          prefix) -> None:
    command = (f"RPUSH {prefix}l first; RPUSH {prefix}l 'two words; one semicolon'; "
               f'RPUSH {prefix}l "dq \\"x\\";y"; HSET {prefix}h f "1;2"')
    await fire(action, {"command": command, "selected_db": DB})
    assert await shared_redis.lrange(f"{prefix}l", 0, -1) == [
        "first", "two words; one semicolon", 'dq "x";y']
    assert await shared_redis.hget(f"{prefix}h", "f") == "1;2"


async def test_a_bad_command_fails_without_retry_naming_target(action, fire, shared_redis,
                                                               prefix) -> None:
    with pytest.raises(ActionError) as info:
        await fire(action, {"command": "NOSUCHCOMMAND x", "selected_db": DB})
    assert not info.value.retry
    assert "127.0.0.1:6379/10" in str(info.value)
    assert "NOSUCHCOMMAND" in str(info.value)


async def test_the_first_failing_command_ends_the_firing(action, fire, shared_redis,
                                                         prefix) -> None:
    command = f"SET {prefix}s text; INCR {prefix}s; SET {prefix}after 1"
    with pytest.raises(ActionError) as info:
        await fire(action, {"command": command, "selected_db": DB})
    assert not info.value.retry
    assert "command 2 of 3 (INCR)" in str(info.value)
    assert await shared_redis.get(f"{prefix}s") == "text"
    assert await shared_redis.exists(f"{prefix}after") == 0


async def test_an_unreachable_server_asks_for_retry_naming_target(action, fire) -> None:
    port = free_port()
    with pytest.raises(ActionError) as info:
        await fire(action, {"command": "PING", "port": str(port)})
    assert info.value.retry
    assert f"127.0.0.1:{port}/0" in str(info.value)


async def test_password_authenticates(action, fire, private_redis) -> None:
    await fire(action, {"command": "SET k v", "port": str(private_redis.port),
                        "password": private_redis.password})
    assert await private_redis.client.get("k") == "v"


async def test_a_wrong_password_fails_without_retry_and_is_never_shown(
        action, fire, private_redis, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "not-the-" + private_redis.password
    params = {"command": "SET k v", "port": str(private_redis.port), "password": secret}
    with pytest.raises(ActionError) as info:
        await fire(action, params)
    assert not info.value.retry
    assert f"127.0.0.1:{private_redis.port}/0" in str(info.value)
    assert secret not in str(info.value)
    assert secret not in caplog.text
    assert secret not in repr(RedisTarget.from_params(params, make_options()))
    assert await private_redis.client.exists("k") == 0


async def test_a_missing_password_fails_without_retry(action, fire, private_redis) -> None:
    with pytest.raises(ActionError) as info:
        await fire(action, {"command": "SET k v", "port": str(private_redis.port)})
    assert not info.value.retry
    assert f"127.0.0.1:{private_redis.port}" in str(info.value)


async def test_firings_reuse_pooled_connections(action, fire, private_redis) -> None:
    params = {"command": "INCR n", "port": str(private_redis.port),
              "password": private_redis.password}
    before = await private_redis.connections_received()
    for _ in range(5):
        await fire(action, params)
    assert await private_redis.client.get("n") == "5"
    assert await private_redis.connections_received() - before == 1


async def test_max_connections_param_bounds_the_pool(action, fire, private_redis) -> None:
    params = {"command": "BLPOP nothing 0.2", "port": str(private_redis.port),
              "password": private_redis.password, "max_connections": "2"}
    before = await private_redis.connections_received()
    await asyncio.gather(*(fire(action, params) for _ in range(6)))
    assert await private_redis.connections_received() - before == 2


async def test_max_connections_option_is_the_default(fire, private_redis) -> None:
    action = RedisAction(make_options(action_redis_max_connections=1))
    params = {"command": "BLPOP nothing 0.1", "port": str(private_redis.port),
              "password": private_redis.password}
    before = await private_redis.connections_received()
    await asyncio.gather(*(fire(action, params) for _ in range(3)))
    assert await private_redis.connections_received() - before == 1
    await action.close()


async def test_each_db_has_its_own_pool(action, fire, private_redis) -> None:
    base = {"port": str(private_redis.port), "password": private_redis.password}
    await fire(action, {**base, "command": "SET k zero"})
    await fire(action, {**base, "command": "SET k three", "selected_db": "3"})
    assert await private_redis.client.get("k") == "zero"
    names = [c["db"] for c in await private_redis.client.client_list()]
    assert sorted(names) == ["0", "0", "3"]


async def test_close_drops_connections_and_a_later_firing_reconnects(fire,
                                                                    private_redis) -> None:
    action = RedisAction(make_options())
    params = {"command": "INCR n", "port": str(private_redis.port),
              "password": private_redis.password}
    await fire(action, params)
    assert await private_redis.connected_clients() == 2
    await action.close()
    for _ in range(50):
        if await private_redis.connected_clients() == 1:
            break
        await asyncio.sleep(0.02)
    assert await private_redis.connected_clients() == 1
    await fire(action, params)
    assert await private_redis.client.get("n") == "2"
    await action.close()
