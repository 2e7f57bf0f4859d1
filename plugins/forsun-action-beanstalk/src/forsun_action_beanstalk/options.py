"""Options of the beanstalk action (``[action]`` section of the INI file)."""

from __future__ import annotations

from forsun.options import Option

OPTIONS = (
    Option("action-beanstalk-max-connections", type=int, default=8, section="action",
           help="connections kept per beanstalkd server (host, port)"),
    Option("action-beanstalk-connect-timeout", type=float, default=5.0, section="action",
           metavar="SECONDS", help="seconds to wait for a connection to beanstalkd"),
)
