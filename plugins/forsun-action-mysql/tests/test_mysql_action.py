"""What is special to the mysql action: its params and options, several statements in one
transaction, pooling, failures."""

from __future__ import annotations

import asyncio
import logging

import pytest

from forsun.action import ActionError
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.testing.options import make_options
from forsun.testing.services import free_port
from forsun_action_mysql.action import MysqlAction, MysqlTarget

DB = "test"


@pytest.mark.parametrize(
    ("params", "code", "names"),
    [
        ({}, ErrorCode.MISSING_ARGUMENT, "params.sql"),
        ({"sql": "SELECT 1", "port": "x"}, ErrorCode.STORE_FAILED, "params.port"),
        ({"sql": "SELECT 1", "port": "0"}, ErrorCode.STORE_FAILED, "params.port"),
        ({"sql": "SELECT 1", "max_connections": "-2"}, ErrorCode.STORE_FAILED,
         "params.max_connections"),
    ],
)
def test_validate_refuses_bad_params(params, code, names) -> None:
    with pytest.raises(ForsunPlanError) as info:
        MysqlAction(make_options()).validate(params)
    assert info.value.code == code
    assert names in info.value.message


def test_validate_accepts_every_param() -> None:
    MysqlAction(make_options()).validate({
        "host": "127.0.0.1", "port": "3306", "db": "test", "user": "u", "passwd": "p",
        "max_connections": "3", "sql": "SELECT 1",
    })


def test_defaults_come_from_params_then_options() -> None:
    target = MysqlTarget.from_params({"sql": "SELECT 1"}, make_options())
    assert (target.host, target.port, target.db, target.user, target.passwd) == (
        "127.0.0.1", 3306, "mysql", "root", "")
    options = make_options(action_mysql_user="app", action_mysql_passwd="pw",
                           action_mysql_max_connections=3)
    target = MysqlTarget.from_params({"sql": "SELECT 1"}, options)
    assert (target.user, target.passwd, target.max_connections) == ("app", "pw", 3)
    target = MysqlTarget.from_params({"sql": "SELECT 1", "user": "u", "passwd": "p"}, options)
    assert (target.user, target.passwd) == ("u", "p")


async def test_several_statements_run_in_order(action, fire, admin, table) -> None:
    sql = (f"INSERT INTO {table} (v) VALUES ('one; with a semicolon');\n"
           f"INSERT INTO {table} (v) VALUES ('two');"
           f"UPDATE {table} SET v = CONCAT(v, '!') WHERE v = 'two'")
    await fire(action, {"sql": sql, "db": DB})
    assert await admin.query(f"SELECT v FROM {table} ORDER BY id") == [
        ("one; with a semicolon",), ("two!",)]


async def test_a_failing_statement_rolls_back_the_firing(action, fire, admin, table) -> None:
    sql = (f"INSERT INTO {table} (v) VALUES ('first'); "
           f"INSERT INTO {table}_missing (v) VALUES ('second')")
    with pytest.raises(ActionError) as info:
        await fire(action, {"sql": sql, "db": DB})
    assert not info.value.retry
    assert "root@127.0.0.1:3306/test" in str(info.value)
    assert f"{table}_missing" in str(info.value)
    assert await admin.query(f"SELECT v FROM {table}") == []
    await fire(action, {"sql": f"INSERT INTO {table} (v) VALUES ('after')", "db": DB})
    assert await admin.query(f"SELECT v FROM {table}") == [("after",)]


async def test_bad_sql_fails_without_retry_naming_target(action, fire) -> None:
    with pytest.raises(ActionError) as info:
        await fire(action, {"sql": "SELEC 1", "db": DB})
    assert not info.value.retry
    assert "root@127.0.0.1:3306/test" in str(info.value)
    assert "1064" in str(info.value)


async def test_an_unknown_db_fails_without_retry_naming_it(action, fire, admin) -> None:
    with pytest.raises(ActionError) as info:
        await fire(action, {"sql": "SELECT 1", "db": "forsun_no_such_db"})
    assert not info.value.retry
    assert "forsun_no_such_db" in str(info.value)


async def test_an_unreachable_server_asks_for_retry_naming_target(action, fire) -> None:
    port = free_port()
    with pytest.raises(ActionError) as info:
        await fire(action, {"sql": "SELECT 1", "port": str(port)})
    assert info.value.retry
    assert f"127.0.0.1:{port}" in str(info.value)


async def test_user_and_passwd_params_log_in(action, fire, admin, table, mysql_user) -> None:
    await fire(action, {"sql": f"INSERT INTO {table} (v) VALUES (CURRENT_USER())", "db": DB,
                        "user": mysql_user.name, "passwd": mysql_user.passwd})
    assert await admin.query(f"SELECT v FROM {table}") == [(f"{mysql_user.name}@%",)]


async def test_user_and_passwd_options_are_the_defaults(fire, admin, table,
                                                        mysql_user) -> None:
    action = MysqlAction(make_options(action_mysql_user=mysql_user.name,
                                      action_mysql_passwd=mysql_user.passwd))
    await fire(action, {"sql": f"INSERT INTO {table} (v) VALUES (CURRENT_USER())", "db": DB})
    await action.close()
    assert await admin.query(f"SELECT v FROM {table}") == [(f"{mysql_user.name}@%",)]


async def test_a_wrong_passwd_fails_without_retry_and_is_never_shown(
        action, fire, table, mysql_user, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "not-" + mysql_user.passwd
    params = {"sql": "SELECT 1", "db": DB, "user": mysql_user.name, "passwd": secret}
    with pytest.raises(ActionError) as info:
        await fire(action, params)
    assert not info.value.retry
    assert f"{mysql_user.name}@127.0.0.1:3306/test" in str(info.value)
    assert "1045" in str(info.value)
    assert secret not in str(info.value)
    assert secret not in caplog.text
    assert secret not in repr(MysqlTarget.from_params(params, make_options()))


async def test_firings_reuse_pooled_connections(action, fire, admin, table,
                                                mysql_user) -> None:
    params = {"sql": f"INSERT INTO {table} (conn) VALUES (CONNECTION_ID())", "db": DB,
              "user": mysql_user.name, "passwd": mysql_user.passwd}
    for _ in range(5):
        await fire(action, params)
    rows = await admin.query(f"SELECT DISTINCT conn FROM {table}")
    assert len(rows) == 1
    assert await admin.connections_of(mysql_user.name) == 1


async def test_max_connections_param_bounds_the_pool(action, fire, admin, table,
                                                     mysql_user) -> None:
    params = {"sql": f"INSERT INTO {table} (conn) VALUES (CONNECTION_ID()); DO SLEEP(0.2)",
              "db": DB, "user": mysql_user.name, "passwd": mysql_user.passwd,
              "max_connections": "2"}
    await asyncio.gather(*(fire(action, params) for _ in range(6)))
    assert await admin.query(f"SELECT COUNT(*), COUNT(DISTINCT conn) FROM {table}") == [(6, 2)]


async def test_max_connections_option_is_the_default(fire, admin, table, mysql_user) -> None:
    action = MysqlAction(make_options(action_mysql_max_connections=1))
    params = {"sql": f"INSERT INTO {table} (conn) VALUES (CONNECTION_ID()); DO SLEEP(0.1)",
              "db": DB, "user": mysql_user.name, "passwd": mysql_user.passwd}
    await asyncio.gather(*(fire(action, params) for _ in range(3)))
    await action.close()
    assert await admin.query(f"SELECT COUNT(*), COUNT(DISTINCT conn) FROM {table}") == [(3, 1)]


async def test_close_drops_connections_and_a_later_firing_reconnects(fire, admin, table,
                                                                    mysql_user) -> None:
    action = MysqlAction(make_options())
    params = {"sql": f"INSERT INTO {table} (conn) VALUES (CONNECTION_ID())", "db": DB,
              "user": mysql_user.name, "passwd": mysql_user.passwd}
    await fire(action, params)
    assert await admin.connections_of(mysql_user.name) == 1
    await action.close()
    for _ in range(50):
        if await admin.connections_of(mysql_user.name) == 0:
            break
        await asyncio.sleep(0.02)
    assert await admin.connections_of(mysql_user.name) == 0
    await fire(action, params)
    await action.close()
    assert await admin.query(f"SELECT COUNT(DISTINCT conn) FROM {table}") == [(2,)]
