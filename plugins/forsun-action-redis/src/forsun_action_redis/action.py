"""The redis action: runs the Redis commands of a plan's ``command`` param.

Params (all strings): ``host`` (127.0.0.1), ``port`` (6379), ``selected_db`` (0),
``password`` (none; a secret), ``max_connections`` (option ``--action-redis-max-connections``)
and ``command``: one or more commands separated by ``;``, quoted like a shell line
(:func:`forsun_action_redis.commands.split_commands`). The commands run in order, each
once, on one connection; the first failing one ends the firing. How a firing's replies are
judged and its connection handed back clean: :mod:`forsun_action_redis.exchange`.
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

from .commands import parse_commands
from .exchange import CommandFailed, is_retried, restoring_commands, run_firing
from .options import OPTIONS


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
        self._pools: dict[tuple[str, int, int, str], aioredis.BlockingConnectionPool] = {}

    def validate(self, params: Mapping[str, str]) -> None:
        super().validate(params)
        RedisTarget.from_params(params, self.options)
        parse_commands(params["command"])

    async def execute(self, firing: Firing) -> None:
        try:
            target = RedisTarget.from_params(firing.params, self.options)
            commands = parse_commands(firing.params.get("command", ""))
        except ForsunPlanError as exc:
            raise ActionError(f"redis: {exc.message}") from None
        pool = self._pool(target)
        try:
            conn = await pool.get_connection()
        except (rexc.RedisError, OSError) as exc:
            raise ActionError(self._failure(target, "connecting", exc),
                              retry=is_retried(exc)) from exc
        try:
            await run_firing(conn, commands, restoring_commands(target.db, target.password))
        except CommandFailed as exc:
            which = f"command {exc.number} of {len(commands)} ({commands[exc.number - 1][0]})"
            raise ActionError(self._failure(target, which, exc), retry=exc.retry) from exc
        finally:
            await pool.release(conn)

    async def close(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            await pool.aclose()

    def _pool(self, target: RedisTarget) -> aioredis.BlockingConnectionPool:
        pool = self._pools.get(target.pool_key)
        if pool is None:
            pool = aioredis.BlockingConnectionPool(
                host=target.host, port=target.port, db=target.db,
                password=target.password or None,
                max_connections=target.max_connections,
                timeout=None,  # wait for a free connection; the engine's timeout bounds it
                socket_connect_timeout=self.options.action_redis_connect_timeout,
                socket_timeout=None,
                # RESP2, the protocol RESET returns a connection to (exchange.py).
                protocol=2,
                # Connecting is tried twice at once; further retries are the engine's, with
                # their growing delay. (A pooled connection the server has closed meanwhile
                # is found and reconnected by the pool before it is lent.)
                retry=Retry(NoBackoff(), 1),
            )
            self._pools[target.pool_key] = pool
        return pool

    @staticmethod
    def _failure(target: RedisTarget, what: str, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        if target.password:
            text = text.replace(target.password, "******")
        return f"redis {target}: {what} failed: {text}"
