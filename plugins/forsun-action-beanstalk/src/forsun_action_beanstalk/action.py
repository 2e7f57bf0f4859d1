"""The beanstalk action: puts a plan's ``body`` as a job into a beanstalkd tube.

Params (all strings): ``host`` (127.0.0.1), ``port`` (11300), ``name`` (the tube,
"default"), ``body`` (empty), ``priority`` (2^31, as the original forsun; lower is more
urgent), ``delay`` (0 seconds) and ``ttr`` (7200 seconds to run once reserved, as the
original).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from forsun.action import Action, ActionError, Firing
from forsun.action.params import int_param
from forsun.action.pool import ConnectionPool
from forsun.errors import ForsunPlanError
from forsun.options import Options

from .options import OPTIONS
from .protocol import TUBE_NAME, BeanstalkConnection, ReplyError

UINT32_MAX = 2**32 - 1
#: The original forsun's job priority and time to run (its client library's defaults).
DEFAULT_PRIORITY = 2**31
DEFAULT_TTR = 7200


@attrs.frozen
class Job:
    """A job to put, and where."""

    host: str
    port: int
    tube: str
    body: bytes
    priority: int
    delay: int
    ttr: int

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Job:
        tube = params.get("name") or "default"
        if not TUBE_NAME.fullmatch(tube):
            raise ForsunPlanError.invalid(
                "params.name", f"{tube!r} is not a tube name (at most 200 letters, digits "
                               "or -+/;.$_(), not starting with -)")
        return cls(
            host=params.get("host") or "127.0.0.1",
            port=int_param(params, "port", 11300, 1, 65535),
            tube=tube,
            body=params.get("body", "").encode(),
            priority=int_param(params, "priority", DEFAULT_PRIORITY, 0, UINT32_MAX),
            delay=int_param(params, "delay", 0, 0, UINT32_MAX),
            ttr=int_param(params, "ttr", DEFAULT_TTR, 0, UINT32_MAX),
        )

    def __str__(self) -> str:
        return f"{self.host}:{self.port} tube {self.tube!r}"


class BeanstalkAction(Action):
    """Puts one job per firing, over pooled connections: one pool per (host, port) of at
    most ``--action-beanstalk-max-connections``, created on first use, closed by
    :meth:`close`.

    It speaks the protocol over asyncio itself (:mod:`.protocol`) instead of running a
    blocking client in threads: an engine timeout then cancels a put cleanly, and no thread
    is held while beanstalkd is slow.
    """

    def __init__(self, options: Options | None = None) -> None:
        super().__init__(options if options is not None else Options(OPTIONS))
        self._pools: dict[tuple[str, int], ConnectionPool[BeanstalkConnection]] = {}

    def validate(self, params: Mapping[str, str]) -> None:
        super().validate(params)
        Job.from_params(params)

    async def execute(self, firing: Firing) -> None:
        try:
            job = Job.from_params(firing.params)
        except ForsunPlanError as exc:
            raise ActionError(f"beanstalk: {exc.message}") from None
        try:
            async with self._pool(job.host, job.port).connection() as conn:
                await conn.use(job.tube)
                await conn.put(job.body, job.priority, job.delay, job.ttr)
        except ReplyError as exc:
            raise ActionError(f"beanstalk {job}: {exc}", retry=exc.transient) from exc
        except (OSError, TimeoutError) as exc:
            text = str(exc) or type(exc).__name__
            raise ActionError(f"beanstalk {job}: {text}", retry=True) from exc

    async def close(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()

    def _pool(self, host: str, port: int) -> ConnectionPool[BeanstalkConnection]:
        pool = self._pools.get((host, port))
        if pool is None:
            timeout = self.options.action_beanstalk_connect_timeout
            pool = ConnectionPool(lambda: BeanstalkConnection.open(host, port, timeout),
                                  self.options.action_beanstalk_max_connections)
            self._pools[(host, port)] = pool
        return pool
