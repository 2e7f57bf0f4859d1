"""forsun plugin: the ``beanstalk`` action (puts a job into a beanstalkd tube when a plan
fires)."""

from forsun import hookimpl
from forsun.plugins import lazy

from .options import OPTIONS


@hookimpl
def register_actions(register):
    register("beanstalk", lazy("forsun_action_beanstalk.action:BeanstalkAction"))


@hookimpl
def register_options(register):
    for option in OPTIONS:
        register(option)
