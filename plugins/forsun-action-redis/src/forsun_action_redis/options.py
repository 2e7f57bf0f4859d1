"""Options of the redis action (``[action]`` section of the INI file)."""

from __future__ import annotations

from forsun.options import Option

OPTIONS = (
    Option("action-redis-max-connections", type=int, default=8, section="action",
           help="connections per (host, port, db) pool when a plan's params give no "
                "max_connections"),
    Option("action-redis-connect-timeout", type=float, default=5.0, section="action",
           metavar="SECONDS", help="seconds to wait for a connection to a redis server"),
)
