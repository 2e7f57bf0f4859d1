"""A firing starts on a connection in a known state: what one firing does to its pooled
connection's session (current database, autocommit, character set, session and user
variables, locks, temporary tables) never reaches the next.

Every test uses a pool of one connection, so each firing reuses the one before it. The
fixtures are listed table first so that the action (and a lock its connection may hold on
the table) is closed before the table is dropped."""

from __future__ import annotations

import contextlib
import uuid

import pytest

from forsun.action import ActionError

DB = "test"
ONE = {"db": DB, "max_connections": "1"}
#: A temporary table shadowing the test's table of the same name (conftest.table).
SHADOW = ("CREATE TEMPORARY TABLE {table} (id INT AUTO_INCREMENT PRIMARY KEY, "
          "v VARCHAR(255), conn BIGINT)")


async def test_use_does_not_move_later_firings_to_another_database(admin, table, action,
                                                                  fire) -> None:
    await fire(action, {**ONE, "sql": "USE mysql"})
    await fire(action, {**ONE, "sql": f"INSERT INTO {table} (v) VALUES ('here')"})
    assert await admin.query(f"SELECT v FROM {table}") == [("here",)]


async def test_autocommit_turned_on_does_not_keep_a_later_failing_firings_work(
        admin, table, action, fire) -> None:
    await fire(action, {**ONE, "sql": "SET autocommit = 1"})
    with pytest.raises(ActionError):
        await fire(action, {**ONE, "sql": f"INSERT INTO {table} (v) VALUES ('first'); "
                                          f"INSERT INTO {table}_missing (v) VALUES ('second')"})
    assert await admin.query(f"SELECT v FROM {table}") == []


async def test_set_names_does_not_garble_later_firings(admin, table, action, fire) -> None:
    await fire(action, {**ONE, "sql": "SET NAMES latin1"})
    await fire(action, {**ONE, "sql": f"INSERT INTO {table} (v) VALUES ('café €')"})
    assert await admin.query(f"SELECT v FROM {table}") == [("café €",)]


async def test_a_temporary_table_does_not_capture_later_firings(admin, table, action,
                                                              fire) -> None:
    await fire(action, {**ONE, "sql": SHADOW.format(table=table)})
    await fire(action, {**ONE, "sql": f"INSERT INTO {table} (v) VALUES ('kept')"})
    assert await admin.query(f"SELECT v FROM {table}") == [("kept",)]


def session_probe(table: str, lock: str) -> str:
    """SQL recording the session state a firing runs in as one row of ``table``."""
    state = ", ".join([
        "DATABASE()", "@@autocommit", "@@character_set_client",
        "@@character_set_connection", "@@character_set_results", "@@collation_connection",
        "@@time_zone", "@@sql_mode", "IFNULL(@forsun_var, '-')", f"IS_FREE_LOCK('{lock}')",
        "@@in_transaction",
    ])
    return (f"INSERT INTO test.{table} (v, conn) "
            f"SELECT CONCAT_WS('|', {state}), CONNECTION_ID()")


@pytest.mark.parametrize("change", [
    "USE mysql",
    "SET autocommit = 1",
    "SET NAMES latin1",
    "SET time_zone = '+05:00', sql_mode = ''",
    "SET @forsun_var = 'left over'",
    "DO GET_LOCK('{lock}', 0)",
    "LOCK TABLES {table} READ",
    SHADOW,
    "SET @forsun_var = 1; SET NAMES latin1; SELECT * FROM no_such_table",
])
async def test_every_firing_starts_on_a_session_as_new(admin, table, action, fire,
                                                       change) -> None:
    lock = f"forsun-test-{uuid.uuid4().hex}"
    probe = {**ONE, "sql": session_probe(table, lock)}
    await fire(action, probe)
    with contextlib.suppress(ActionError):
        await fire(action, {**ONE, "sql": change.format(table=table, lock=lock)})
    await fire(action, probe)
    [(first, conn), (second, conn_after)] = await admin.query(
        f"SELECT v, conn FROM {table} ORDER BY id")
    assert second == first
    assert conn_after == conn, "the connection was replaced, not reset"
