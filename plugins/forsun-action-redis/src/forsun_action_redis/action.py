"""The redis action: runs the Redis commands of a plan's ``command`` param.

Params (all strings): ``host`` (127.0.0.1), ``port`` (6379), ``selected_db`` (0),
``password`` (none; a secret), ``max_connections`` (option ``--action-redis-max-connections``)
and ``command``: one or more commands separated by ``;``, quoted like a shell line
(:func:`forsun_action_redis.commands.split_commands`). The commands run in order, each
once; the first failing one ends the firing.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from forsun.action import Action, ActionError, Firing
from forsun.action.params import int_param
from forsun.errors import ForsunPlanError
from forsun.options import Options

from .commands import split_commands
from .options import OPTIONS

#: Failures that may pass: the server is unreachable, still loading, a read-only replica
#: during a failover, or asks to try again. A refused password does not pass by itself.
RETRIED = (rexc.ConnectionError, rexc.TimeoutError, rexc.ReadOnlyError, rexc.TryAgainError,
           rexc.MasterDownError)
NOT_RETRIED = (rexc.AuthenticationError,)



@attrs.frozen
class RedisTarget:
    """Where the commands go; plans naming the same target and password share a pool."""

    host: str
    port: int
    db: int
    password: str = attrs.field(repr=False)
    max_connections: int

    @classmethod
    def from_params(cls, params: Mapping[str, str], options: Options) -> RedisTarget:
        return cls(
            host=params.get("host") or "127.0.0.1",
            port=int_param(params, "port", 6379, 1, 65535),
            db=int_param(params, "selected_db", 0, 0),
            password=params.get("password", ""),
            max_connections=int_param(params, "max_connections",
                                      options.action_redis_max_connections, 1),
        )

    @property
    def pool_key(self) -> tuple[str, int, int, str]:
        return (self.host, self.port, self.db, self.password)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}/{self.db}"


class RedisAction(Action):
    """Runs ``command`` on a pooled connection; one pool per (host, port, db, password),
    created on first use with that firing's ``max_connections`` and closed by :meth:`close`.
    """

    required_params = ("command",)

    def __init__(self, options: Options | None = None) -> None:
        super().__init__(options if options is not None else Options(OPTIONS))
        self._clients: dict[tuple[str, int, int, str], aioredis.Redis] = {}

    def validate(self, params: Mapping[str, str]) -> None:
        super().validate(params)
        RedisTarget.from_params(params, self.options)
        if not split_commands(params["command"]):
            raise ForsunPlanError.invalid("params.command", "holds no command")

    async def execute(self, firing: Firing) -> None:
        try:
            target = RedisTarget.from_params(firing.params, self.options)
            commands = split_commands(firing.params.get("command", ""))
        except ForsunPlanError as exc:
            raise ActionError(f"redis: {exc.message}") from None
        if not commands:
            raise ActionError(f"redis {target}: params.command holds no command")
        client = self._client(target)
        for number, argv in enumerate(commands, 1):
            try:
                await client.execute_command(*argv)
            except rexc.RedisError as exc:
                retry = isinstance(exc, RETRIED) and not isinstance(exc, NOT_RETRIED)
                raise ActionError(self._failure(target, number, commands, exc),
                                  retry=retry) from exc
            except (OSError, TimeoutError) as exc:
                raise ActionError(self._failure(target, number, commands, exc),
                                  retry=True) from exc

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose(close_connection_pool=True)

    def _client(self, target: RedisTarget) -> aioredis.Redis:
        client = self._clients.get(target.pool_key)
        if client is None:
            pool = aioredis.BlockingConnectionPool(
                host=target.host, port=target.port, db=target.db,
                password=target.password or None,
                max_connections=target.max_connections,
                timeout=None,  # wait for a free connection; the engine's timeout bounds it
                socket_connect_timeout=self.options.action_redis_connect_timeout,
                socket_timeout=None,
                # One immediate retry covers a pooled connection the server has closed;
                # further retries are the engine's, with their growing delay.
                retry=Retry(NoBackoff(), 1),
            )
            client = aioredis.Redis(connection_pool=pool)
            self._clients[target.pool_key] = client
        return client

    @staticmethod
    def _failure(target: RedisTarget, number: int, commands: list[list[str]],
                 exc: BaseException) -> str:
        which = f"command {number} of {len(commands)} ({commands[number - 1][0]})"
        text = str(exc) or type(exc).__name__
        if target.password:
            text = text.replace(target.password, "******")
        return f"redis {target}: {which} failed: {text}"
