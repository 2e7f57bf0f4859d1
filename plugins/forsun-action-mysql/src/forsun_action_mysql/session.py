"""Handing a pooled connection from one firing to the next in a known session state.

A firing's SQL may change its session: the current database (``USE``), autocommit, the
character set (``SET NAMES``), session and user variables, locks (``LOCK TABLES``,
``GET_LOCK``), temporary tables, an open transaction. Rather than knowing which statements
do, every firing ends with ``COM_RESET_CONNECTION`` (MySQL >= 5.7.3, MariaDB >= 10.2.4),
which rolls back and undoes all of that but the current database, and leaves autocommit at
the server's default; every firing's SQL starts with :func:`prelude`, which sets those two
and the character set in the same round trip as the SQL itself. A connection the server
cannot reset is closed, and the pool opens a new one for the next firing.
"""

from __future__ import annotations

import aiomysql
import pymysql
from pymysql.charset import charset_by_name

#: The command code of COM_RESET_CONNECTION (PyMySQL has no name for it).
COM_RESET_CONNECTION = 0x1F


def prelude(conn: aiomysql.Connection, db: str) -> str:
    """Statements that put the session of ``conn`` in the state every firing starts in:
    the connection's character set, autocommit off, database ``db``."""
    charset = charset_by_name(conn.charset)
    quoted_db = "`" + db.replace("`", "``") + "`"
    return (f"SET NAMES {charset.name} COLLATE {charset.collation}, autocommit = 0; "
            f"USE {quoted_db}; ")


async def reset(conn: aiomysql.Connection) -> None:
    """Reset the session of ``conn``, rolling back an open transaction; close ``conn`` if
    that fails (the server is too old or the connection is gone). Cancellation closes it
    too, and propagates."""
    try:
        # aiomysql has no public call for this command: send it as its own ping() does.
        await conn._execute_command(COM_RESET_CONNECTION, b"")
        await conn._read_ok_packet()
    except BaseException as exc:
        conn.close()
        if not isinstance(exc, pymysql.MySQLError | OSError):
            raise
