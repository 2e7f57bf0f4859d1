"""Fixtures for the mysql action's tests: the shared MariaDB at 127.0.0.1:3306 (root, no
password, database ``test``), a table and a password-protected user of each test's own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping

import aiomysql
import attrs
import pytest

from forsun.testing import ActionTarget
from forsun.testing.options import make_options
from forsun.testing.services import free_port, require_server
from forsun_action_mysql.action import MysqlAction

pytest_plugins = ["forsun.testing.fixtures"]

HOST = "127.0.0.1"
PORT = 3306
DB = "test"


@attrs.define
class Admin:
    """A root connection (autocommit) to the shared server."""

    conn: aiomysql.Connection

    async def query(self, sql: str, *args: object) -> list[tuple]:
        async with self.conn.cursor() as cursor:
            await cursor.execute(sql, args or None)
            return list(await cursor.fetchall())

    async def connections_of(self, user: str) -> int:
        rows = await self.query(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", user)
        return int(rows[0][0])


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    require_server("mariadb", HOST, PORT)
    conn = await aiomysql.connect(host=HOST, port=PORT, user="root", password="", db=DB,
                                  autocommit=True)
    yield Admin(conn)
    conn.close()


@pytest.fixture
async def table(admin: Admin) -> AsyncIterator[str]:
    """A table of this test's own in ``test``: ``id`` (auto), ``v`` (text), ``conn``."""
    name = f"forsun_test_{uuid.uuid4().hex[:16]}"
    await admin.query(f"CREATE TABLE {name} (id INT AUTO_INCREMENT PRIMARY KEY, "
                      f"v VARCHAR(255), conn BIGINT) ENGINE=InnoDB")
    yield name
    await admin.query(f"DROP TABLE IF EXISTS {name}")


@attrs.frozen
class User:
    name: str
    passwd: str = attrs.field(repr=False)


@pytest.fixture
async def mysql_user(admin: Admin, table: str) -> AsyncIterator[User]:
    """A user with a password, allowed to write ``test``; its connections are countable."""
    user = User(f"forsun_{uuid.uuid4().hex[:12]}", f"pw-{uuid.uuid4().hex}")
    await admin.query(f"CREATE USER '{user.name}'@'%%' IDENTIFIED BY %s", user.passwd)
    await admin.query(f"GRANT ALL ON {DB}.* TO '{user.name}'@'%'")
    yield user
    await admin.query(f"DROP USER '{user.name}'@'%'")


@pytest.fixture
async def action() -> AsyncIterator[MysqlAction]:
    action = MysqlAction(make_options())
    yield action
    await action.close()


class MysqlTableTarget(ActionTarget):
    """The conformance suite's view of the shared MariaDB: each :meth:`ok_params` inserts a
    token of its own into a table. SQL cannot see the plan's key or due second, so a
    delivery is identified by that token (``deliveries()`` gives ``(token, None)``;
    ``token_of(params)`` finds the token a firing's params carry)."""

    passes_timestamp = False

    def __init__(self, admin: Admin, table: str) -> None:
        self.admin = admin
        self.table = table

    def ok_params(self) -> dict[str, str]:
        return {"db": DB, "sql": f"INSERT INTO {self.table} (v) VALUES ('{uuid.uuid4().hex}')"}

    @staticmethod
    def token_of(params: Mapping[str, str]) -> str:
        return params["sql"].rsplit("'", 2)[1]

    def failing_params(self) -> dict[str, str]:
        return {"db": DB, "sql": f"INSERT INTO {self.table} (no_such_column) VALUES (1)"}

    def retry_params(self) -> dict[str, str]:
        return {"db": DB, "sql": "SELECT 1", "port": str(free_port())}

    def slow_params(self, seconds: float) -> dict[str, str]:
        return {"db": DB, "sql": f"DO SLEEP({seconds})"}

    def missing_params(self) -> dict[str, str]:
        return {"db": DB}

    def state_changing_params(self) -> dict[str, str]:
        return {"db": DB, "sql": "USE mysql"}

    async def deliveries(self) -> list[tuple[str, int | None]]:
        rows = await self.admin.query(f"SELECT v FROM {self.table} ORDER BY id")
        return [(token, None) for (token,) in rows]


@pytest.fixture
def mysql_table_target(admin: Admin, table: str) -> MysqlTableTarget:
    return MysqlTableTarget(admin, table)
