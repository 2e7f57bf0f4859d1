"""The thrift action: calls ``forsun_call(key, ts, params)`` on a Thrift server.

Params (all strings): ``host`` (127.0.0.1), ``port`` (5643) and ``max_connections``
(option ``--action-thrift-max-connections``). The call carries the plan's key, the due
second and all of the plan's params.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from thriftpy2.thrift import TApplicationException, TException
from thriftpy2.transport import TTransportException

from forsun.action import Action, ActionError, Firing
from forsun.action.params import int_param
from forsun.action.pool import ConnectionPool
from forsun.errors import ForsunPlanError
from forsun.options import Options

from .connection import ThriftConnection
from .options import OPTIONS

#: Answers meaning the target does not serve forsun_call as forsun calls it: no retry
#: helps. Other application errors (INTERNAL_ERROR, UNKNOWN) are the target's trouble
#: of the moment and are retried, like an HTTP 5xx.
FINAL_APPLICATION_ERRORS = frozenset({
    TApplicationException.UNKNOWN_METHOD,
    TApplicationException.INVALID_MESSAGE_TYPE,
    TApplicationException.WRONG_METHOD_NAME,
    TApplicationException.PROTOCOL_ERROR,
})



@attrs.frozen
class ThriftTarget:
    """The server called; plans naming the same (host, port) share a pool."""

    host: str
    port: int
    max_connections: int

    @classmethod
    def from_params(cls, params: Mapping[str, str], options: Options) -> ThriftTarget:
        return cls(
            host=params.get("host") or "127.0.0.1",
            port=int_param(params, "port", 5643, 1, 65535),
            max_connections=int_param(params, "max_connections",
                                      options.action_thrift_max_connections, 1),
        )

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class ThriftAction(Action):
    """Calls ``forsun_call`` over pooled connections: one pool per (host, port), created on
    first use with that firing's ``max_connections``, closed by :meth:`close`."""

    def __init__(self, options: Options | None = None) -> None:
        super().__init__(options if options is not None else Options(OPTIONS))
        self._pools: dict[tuple[str, int], ConnectionPool[ThriftConnection]] = {}

    def validate(self, params: Mapping[str, str]) -> None:
        super().validate(params)
        ThriftTarget.from_params(params, self.options)

    async def execute(self, firing: Firing) -> None:
        try:
            target = ThriftTarget.from_params(firing.params, self.options)
        except ForsunPlanError as exc:
            raise ActionError(f"thrift: {exc.message}") from None
        try:
            async with self._pool(target).connection() as conn:
                await conn.forsun_call(firing.key, firing.ts, firing.params)
        except TApplicationException as exc:
            retry = exc.type not in FINAL_APPLICATION_ERRORS
            raise ActionError(self._failure(target, exc), retry=retry) from exc
        except (TTransportException, OSError, TimeoutError) as exc:
            raise ActionError(self._failure(target, exc), retry=True) from exc
        except TException as exc:
            raise ActionError(self._failure(target, exc)) from exc

    async def close(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()

    def _pool(self, target: ThriftTarget) -> ConnectionPool[ThriftConnection]:
        key = (target.host, target.port)
        pool = self._pools.get(key)
        if pool is None:
            timeout = self.options.action_thrift_timeout
            pool = ConnectionPool(lambda: ThriftConnection.open(target.host, target.port,
                                                                timeout),
                                  target.max_connections)
            self._pools[key] = pool
        return pool

    @staticmethod
    def _failure(target: ThriftTarget, exc: BaseException) -> str:
        return f"thrift {target}: forsun_call failed: {str(exc) or type(exc).__name__}"
