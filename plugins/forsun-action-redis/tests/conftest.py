"""Fixtures for the redis action's tests: the shared Redis at 127.0.0.1:6379 (database 10,
keys unique per test) and a private ``redis-server`` (``redis_server``) for what needs a
server of its own (a password, counting connections)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Mapping

import attrs
import pytest
import redis.asyncio as aioredis

from forsun.testing import ActionTarget
from forsun.testing.options import make_options
from forsun.testing.redis_server import RedisServer
from forsun.testing.services import free_port, require_server
from forsun_action_redis.action import RedisAction

pytest_plugins = ["forsun.testing.fixtures"]

HOST = "127.0.0.1"
PORT = 6379
#: The database the tests write to on the shared server.
TEST_DB = 10
#: The client name of a private server's admin connection.
ADMIN_NAME = "forsun-test-admin"


@pytest.fixture
async def shared_redis() -> AsyncIterator[aioredis.Redis]:
    """A client of the shared Redis, database :data:`TEST_DB`."""
    require_server("redis", HOST, PORT)
    client = aioredis.Redis(host=HOST, port=PORT, db=TEST_DB, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(shared_redis: aioredis.Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    value = f"forsun-test:{uuid.uuid4().hex}:"
    yield value
    keys = [key async for key in shared_redis.scan_iter(match=f"{value}*")]
    if keys:
        await shared_redis.delete(*keys)


@pytest.fixture
async def action() -> AsyncIterator[RedisAction]:
    action = RedisAction(make_options())
    yield action
    await action.close()


@attrs.define
class PrivateRedis:
    """A ``redis-server`` this test started; ``client`` is an admin connection to it."""

    port: int
    password: str
    client: aioredis.Redis

    async def connections_received(self) -> int:
        return int((await self.client.info("stats"))["total_connections_received"])

    async def connected_clients(self) -> int:
        return int((await self.client.info("clients"))["connected_clients"])

    async def action_connections(self) -> list[dict[str, str]]:
        """``CLIENT LIST`` of every connection but the test's own (:meth:`db`, ``client``)."""
        return [conn for conn in await self.client.client_list() if conn["name"] != ADMIN_NAME]

    @contextlib.asynccontextmanager
    async def db(self, number: int) -> AsyncIterator[aioredis.Redis]:
        """An admin client of database ``number``."""
        client = aioredis.Redis(host=HOST, port=self.port, password=self.password, db=number,
                                decode_responses=True, client_name=ADMIN_NAME)
        yield client
        await client.aclose()


@pytest.fixture
async def private_redis(redis_server: Callable[..., RedisServer]
                        ) -> AsyncIterator[PrivateRedis]:
    """A private server protected by a password."""
    password = f"pw-{uuid.uuid4().hex}"
    port = redis_server("--requirepass", password).port
    client = aioredis.Redis(host=HOST, port=port, password=password, decode_responses=True,
                            client_name=ADMIN_NAME)
    yield PrivateRedis(port, password, client)
    await client.aclose()


class RedisListTarget(ActionTarget):
    """The conformance suite's view of the shared Redis: each :meth:`ok_params` pushes a
    token of its own to one list. A redis command cannot see the plan's key or due second,
    so a delivery is identified by that token (``deliveries()`` gives ``(token, None)``;
    ``token_of(params)`` finds the token a firing's params carry)."""

    passes_timestamp = False

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.list = f"{prefix}deliveries"
        self.prefix = prefix

    def base(self) -> dict[str, str]:
        return {"selected_db": str(TEST_DB)}

    def ok_params(self) -> dict[str, str]:
        return {**self.base(), "command": f"RPUSH {self.list} {uuid.uuid4().hex}"}

    @staticmethod
    def token_of(params: Mapping[str, str]) -> str:
        return params["command"].rsplit(" ", 1)[1]

    def failing_params(self) -> dict[str, str]:
        return {**self.base(), "command": f"RPUSH {self.list}"}  # wrong number of arguments

    def retry_params(self) -> dict[str, str]:
        return {**self.base(), "command": "PING", "port": str(free_port())}

    def slow_params(self, seconds: float) -> dict[str, str]:
        return {**self.base(), "command": f"BLPOP {self.prefix}never-pushed {seconds}"}

    def missing_params(self) -> dict[str, str]:
        return self.base()

    def state_changing_params(self) -> dict[str, str]:
        return {**self.base(), "command": f"MULTI; RPUSH {self.list} never-executed"}

    async def deliveries(self) -> list[tuple[str, int | None]]:
        return [(token, None) for token in await self.client.lrange(self.list, 0, -1)]


@pytest.fixture
def redis_list_target(shared_redis: aioredis.Redis, prefix: str) -> RedisListTarget:
    return RedisListTarget(shared_redis, prefix)
