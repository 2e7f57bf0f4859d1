"""Options of the mysql action (``[action]`` section of the INI file)."""

from __future__ import annotations

from forsun.options import Option

OPTIONS = (
    Option("action-mysql-user", default="root", section="action",
           help="user of plans whose params give no user"),
    Option("action-mysql-passwd", default="", section="action", secret=True,
           help="password of plans whose params give no passwd"),
    Option("action-mysql-max-connections", type=int, default=8, section="action",
           help="connections per (host, port, db, user) pool when a plan's params give no "
                "max_connections"),
    Option("action-mysql-connect-timeout", type=float, default=5.0, section="action",
           metavar="SECONDS", help="seconds to wait for a connection to a MySQL server"),
)
