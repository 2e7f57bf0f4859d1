"""forsun plugin: the ``thrift`` action (calls ``forsun_call(key, ts, params)`` on a Thrift
server when a plan fires)."""

from forsun import hookimpl
from forsun.plugins import lazy

from .options import OPTIONS


@hookimpl
def register_actions(register):
    register("thrift", lazy("forsun_action_thrift.action:ThriftAction"))


@hookimpl
def register_options(register):
    for option in OPTIONS:
        register(option)
