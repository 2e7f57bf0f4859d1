"""forsun plugin: the ``redis`` action (runs Redis commands when a plan fires)."""

from forsun import hookimpl
from forsun.plugins import lazy

from .options import OPTIONS


@hookimpl
def register_actions(register):
    register("redis", lazy("forsun_action_redis.action:RedisAction"))


@hookimpl
def register_options(register):
    for option in OPTIONS:
        register(option)
