"""A firing starts on a connection in a known state: what one firing does to its pooled
connection (MULTI, WATCH, SELECT, CLIENT ...) never reaches the next, and work that did not
happen (a transaction never executed, aborted, or failing inside) is not reported as done.

The tests run on a private redis-server with a password (the login must survive the reset
too), database 3, and a pool of one connection, so that every firing reuses it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from forsun.action import ActionError
from forsun.errors import ErrorCode, ForsunPlanError


@pytest.fixture
def base(private_redis) -> dict[str, str]:
    return {"port": str(private_redis.port), "password": private_redis.password,
            "selected_db": "3", "max_connections": "1"}


@pytest.fixture
async def db3(private_redis) -> AsyncIterator[aioredis.Redis]:
    async with private_redis.db(3) as client:
        yield client


async def test_a_transaction_ended_by_an_error_does_not_swallow_later_firings(
        action, fire, base, db3) -> None:
    with pytest.raises(ActionError) as info:
        await fire(action, {**base, "command": "MULTI; INCR a; INCRR b; EXEC"})
    assert not info.value.retry
    assert "command 3 of 4 (INCRR)" in str(info.value)
    for n in range(10):
        await fire(action, {**base, "command": f"RPUSH l {n}"})
    assert await db3.lrange("l", 0, -1) == [str(n) for n in range(10)]
    assert await db3.exists("a") == 0


async def test_concurrent_transactions_each_run_on_one_connection(action, fire, base,
                                                                  db3) -> None:
    params = {**base, "max_connections": "2"}
    await asyncio.gather(*(
        fire(action, {**params, "command": f"MULTI; RPUSH l {n}; RPUSH l {n}; EXEC"})
        for n in range(20)))
    items = await db3.lrange("l", 0, -1)
    assert sorted(items) == sorted(str(n) for n in range(20) for _ in range(2))
    assert all(items[i] == items[i + 1] for i in range(0, len(items), 2))


async def test_select_does_not_move_later_firings_to_another_db(action, fire, private_redis,
                                                               base, db3) -> None:
    await fire(action, {**base, "command": "SELECT 9"})
    await fire(action, {**base, "command": "SET k v"})
    assert await db3.get("k") == "v"
    async with private_redis.db(9) as db9:
        assert await db9.exists("k") == 0


async def test_a_watch_left_by_a_firing_does_not_abort_the_next_transaction(
        action, fire, base, db3) -> None:
    await fire(action, {**base, "command": "SET k 5; WATCH k"})
    await db3.set("k", "6")
    await fire(action, {**base, "command": "MULTI; INCR k; EXEC"})
    assert await db3.get("k") == "7"


async def test_a_queued_command_failing_in_exec_fails_the_firing(action, fire, base,
                                                                db3) -> None:
    with pytest.raises(ActionError) as info:
        await fire(action, {**base, "command": "MULTI; SET s text; INCR s; SET t 1; EXEC"})
    assert not info.value.retry
    assert "command 5 of 5 (EXEC)" in str(info.value)
    assert "not an integer" in str(info.value)
    assert await db3.get("t") == "1"  # Redis has no rollback: the others ran


async def test_a_transaction_aborted_by_watch_asks_for_a_retry(action, fire, base,
                                                              db3) -> None:
    with pytest.raises(ActionError) as info:
        await fire(action, {**base, "command": "WATCH k; SET k 1; MULTI; INCR k; EXEC"})
    assert info.value.retry
    assert "command 5 of 5 (EXEC)" in str(info.value)
    assert "WATCH" in str(info.value)
    assert await db3.get("k") == "1"


async def test_a_transaction_never_executed_fails_the_firing(action, fire, base, db3) -> None:
    with pytest.raises(ActionError) as info:
        await fire(action, {**base, "command": "SET a 1; MULTI; INCR a"})
    assert not info.value.retry
    assert "EXEC" in str(info.value)
    await fire(action, {**base, "command": "INCR a"})
    assert await db3.get("a") == "2"


@pytest.mark.parametrize("command", [
    "CLIENT REPLY OFF", "client reply skip", "SUBSCRIBE ch", "PSUBSCRIBE ch*",
    "SSUBSCRIBE ch", "MONITOR", "SYNC", "PSYNC ? -1",
])
async def test_commands_breaking_one_reply_per_command_are_refused(action, fire, base, db3,
                                                                  command) -> None:
    params = {**base, "command": f"SET before 1; {command}; SET after 1"}
    with pytest.raises(ForsunPlanError) as refused:
        action.validate(params)
    assert refused.value.code == ErrorCode.STORE_FAILED
    assert "params.command" in refused.value.message
    async with asyncio.timeout(10):  # a reply that never comes must not hang the firing
        with pytest.raises(ActionError) as failed:
            await fire(action, params)
        assert not failed.value.retry
        assert command.split()[0].upper() in str(failed.value).upper()
        await fire(action, {**base, "command": "SET next 1"})
    assert await db3.exists("before") == 0
    assert await db3.get("next") == "1"


@pytest.mark.parametrize("command", [
    "MULTI; INCR n",
    "SELECT 5",
    "WATCH n; MULTI",
    "CLIENT TRACKING ON",
    "CLIENT SETNAME dirty",
    "CLIENT REPLY ON; SELECT 7; MULTI; INCR n; EXEC; SELECT 8",
    "INCR n; NOSUCHCOMMAND",
])
async def test_every_firing_hands_back_its_connection_as_new(action, fire, private_redis, base,
                                                             db3, command) -> None:
    await fire(action, {**base, "command": "INCR n"})
    [before] = await private_redis.action_connections()
    with contextlib.suppress(ActionError):
        await fire(action, {**base, "command": command})
    await fire(action, {**base, "command": "SET last 1"})
    assert await db3.get("last") == "1"
    [after] = await private_redis.action_connections()
    assert after["id"] == before["id"], "the connection was replaced, not reset"
    assert (after["flags"], after["db"], after["multi"], after["sub"], after["psub"],
            after["user"], after["resp"], after["name"]) == (
        "N", "3", "-1", "0", "0", "default", "2", "")


@pytest.mark.parametrize("command", ["AUTH default not-the-password", "HELLO 3"])
async def test_a_firing_that_breaks_its_connection_fails_and_leaves_it_behind(
        action, fire, private_redis, base, db3, command) -> None:
    with pytest.raises(ActionError) as info:
        await fire(action, {**base, "command": command})
    assert not info.value.retry
    await fire(action, {**base, "command": "SET last 1"})
    assert await db3.get("last") == "1"
    [conn] = await private_redis.action_connections()
    assert (conn["db"], conn["resp"]) == ("3", "2")


async def test_without_reset_each_firing_gets_a_new_connection(action, fire,
                                                               redis_server) -> None:
    port = redis_server("--rename-command", "RESET", "").port  # as Redis < 6.2
    base = {"port": str(port), "selected_db": "3", "max_connections": "1"}
    admin = aioredis.Redis(host="127.0.0.1", port=port, db=3, decode_responses=True)

    async def connections_received() -> int:
        return int((await admin.info("stats"))["total_connections_received"])

    try:
        before = await connections_received()
        await fire(action, {**base, "command": "SELECT 9"})
        await fire(action, {**base, "command": "MULTI; SET k v; EXEC"})
        assert await admin.get("k") == "v"
        assert await connections_received() == before + 2
    finally:
        await admin.aclose()
