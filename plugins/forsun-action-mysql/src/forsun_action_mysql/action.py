"""The mysql action: runs a plan's ``sql`` param on MySQL or MariaDB.

Params (all strings): ``host`` (127.0.0.1), ``port`` (3306), ``db`` (mysql), ``user``
(option ``--action-mysql-user``, root), ``passwd`` (option ``--action-mysql-passwd``, empty;
a secret), ``max_connections`` (option ``--action-mysql-max-connections``) and ``sql``: one
or more statements separated by ``;``, sent as one multi-statement query and committed as
one transaction; an error in any statement rolls the whole firing back. Each firing starts
on a session in the same state (:mod:`forsun_action_mysql.session`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiomysql
import attrs
import pymysql
from pymysql.constants import CLIENT

from forsun.action import Action, ActionError, Firing
from forsun.action.params import int_param
from forsun.errors import ForsunPlanError
from forsun.options import Options

from . import session
from .options import OPTIONS

#: Server and client error codes worth a retry: no connection (2002, 2003), connection lost
#: (2006, 2013, 2055, 1927), too many connections (1040), server shutting down (1053), lock
#: wait timeout (1205) and deadlock (1213).
RETRIED_CODES = frozenset({1040, 1053, 1205, 1213, 1927, 2002, 2003, 2006, 2013, 2055})

PoolKey = tuple[str, int, str, str, str]



@attrs.frozen
class MysqlTarget:
    """Where the SQL goes; plans naming the same target and credentials share a pool."""

    host: str
    port: int
    db: str
    user: str
    passwd: str = attrs.field(repr=False)
    max_connections: int

    @classmethod
    def from_params(cls, params: Mapping[str, str], options: Options) -> MysqlTarget:
        return cls(
            host=params.get("host") or "127.0.0.1",
            port=int_param(params, "port", 3306, 1, 65535),
            db=params.get("db") or "mysql",
            user=params.get("user") or options.action_mysql_user,
            passwd=params.get("passwd") or options.action_mysql_passwd,
            max_connections=int_param(params, "max_connections",
                                      options.action_mysql_max_connections, 1),
        )

    @property
    def pool_key(self) -> PoolKey:
        return (self.host, self.port, self.db, self.user, self.passwd)

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.db}"


def is_retried(exc: BaseException) -> bool:
    """Whether a failure may pass by itself (lost connections, deadlocks), as opposed to
    bad SQL, a refused login or an unknown database."""
    if isinstance(exc, pymysql.err.InterfaceError | OSError | TimeoutError):
        return True
    code = exc.args[0] if isinstance(exc, pymysql.MySQLError) and exc.args else None
    return code in RETRIED_CODES


class MysqlAction(Action):
    """Runs ``sql`` on a pooled connection; one pool per (host, port, db, user, passwd),
    created on first use with that firing's ``max_connections`` and closed by :meth:`close`.
    """

    required_params = ("sql",)

    def __init__(self, options: Options | None = None) -> None:
        super().__init__(options if options is not None else Options(OPTIONS))
        self._pools: dict[PoolKey, aiomysql.Pool] = {}
        self._pools_lock = asyncio.Lock()

    def validate(self, params: Mapping[str, str]) -> None:
        super().validate(params)
        MysqlTarget.from_params(params, self.options)

    async def execute(self, firing: Firing) -> None:
        try:
            target = MysqlTarget.from_params(firing.params, self.options)
        except ForsunPlanError as exc:
            raise ActionError(f"mysql: {exc.message}") from None
        sql = firing.params.get("sql", "")
        if not sql.strip():
            raise ActionError(f"mysql {target}: params.sql is empty")
        try:
            pool = await self._pool(target)
            async with pool.acquire() as conn:
                await self._run(conn, target.db, sql)
        except (pymysql.MySQLError, OSError, TimeoutError) as exc:
            raise ActionError(self._failure(target, exc), retry=is_retried(exc)) from exc

    @staticmethod
    async def _run(conn: aiomysql.Connection, db: str, sql: str) -> None:
        """Run every statement of ``sql`` on database ``db`` and commit, then reset the
        session; on an SQL error the reset rolls back. A connection whose state is unknown
        (lost, cancelled mid-query) is closed, not reused."""
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(session.prelude(conn, db) + sql)
                while await cursor.nextset():
                    pass
            await conn.commit()
        except pymysql.MySQLError as exc:
            if is_retried(exc):
                conn.close()
            else:
                await session.reset(conn)
            raise
        except BaseException:
            conn.close()
            raise
        await session.reset(conn)

    async def close(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()
            await pool.wait_closed()

    async def _pool(self, target: MysqlTarget) -> aiomysql.Pool:
        async with self._pools_lock:
            pool = self._pools.get(target.pool_key)
            if pool is None:
                pool = await aiomysql.create_pool(
                    minsize=0, maxsize=target.max_connections,
                    host=target.host, port=target.port, db=target.db,
                    user=target.user, password=target.passwd,
                    charset="utf8mb4", autocommit=False,
                    client_flag=CLIENT.MULTI_STATEMENTS,
                    connect_timeout=self.options.action_mysql_connect_timeout,
                )
                self._pools[target.pool_key] = pool
            return pool

    @staticmethod
    def _failure(target: MysqlTarget, exc: BaseException) -> str:
        if isinstance(exc, pymysql.MySQLError) and len(exc.args) == 2:
            text = f"{exc.args[1]} (error {exc.args[0]})"
        else:
            text = str(exc) or type(exc).__name__
        if target.passwd:
            text = text.replace(target.passwd, "******")
        return f"mysql {target}: {text}"
