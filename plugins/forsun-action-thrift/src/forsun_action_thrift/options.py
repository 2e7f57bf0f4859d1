"""Options of the thrift action (``[action]`` section of the INI file)."""

from __future__ import annotations

from forsun.options import Option

OPTIONS = (
    Option("action-thrift-max-connections", type=int, default=8, section="action",
           help="connections per (host, port) pool when a plan's params give no "
                "max_connections"),
    Option("action-thrift-timeout", type=float, default=30.0, section="action",
           metavar="SECONDS",
           help="seconds to wait for a connection and for the reply to forsun_call"),
)
