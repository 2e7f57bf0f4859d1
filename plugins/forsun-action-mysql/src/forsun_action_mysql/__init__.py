"""forsun plugin: the ``mysql`` action (runs SQL on MySQL or MariaDB when a plan fires)."""

from forsun import hookimpl
from forsun.plugins import lazy

from .options import OPTIONS


@hookimpl
def register_actions(register):
    register("mysql", lazy("forsun_action_mysql.action:MysqlAction"))


@hookimpl
def register_options(register):
    for option in OPTIONS:
        register(option)
