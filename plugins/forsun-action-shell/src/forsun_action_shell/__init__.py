"""forsun's shell action: runs a plan's ``cmd`` with ``/bin/sh -c`` when it comes due."""

import logging
import os
from typing import TYPE_CHECKING

from forsun import hookimpl
from forsun.options import Option
from forsun.plugins import lazy

from .exposure import startup_warnings

if TYPE_CHECKING:
    from forsun.service import Service

log = logging.getLogger(__name__)


@hookimpl
def register_actions(register):
    register("shell", lazy("forsun_action_shell.action:ShellAction"))


@hookimpl
def register_options(register):
    register(Option("action-shell-enabled", type=bool, default=True, section="action",
                    help="allow the shell action; when off, shell plans are refused"))
    register(Option("action-shell-allow", type=list, default=[], section="action",
                    metavar="PREFIX",
                    help="only commands starting with one of these prefixes (whole words) may "
                         "run, and they may not contain shell control operators (repeatable; "
                         "INI: separated by ';'); empty allows every command"))
    register(Option("action-shell-env-allow", type=list, default=[], section="action",
                    metavar="NAME",
                    help="with --action-shell-allow, the only names the env param may set "
                         "(repeatable; INI: separated by ';'); empty: no env param"))
    register(Option("action-shell-cwd-allow", type=list, default=[], section="action",
                    metavar="DIR",
                    help="with --action-shell-allow, directories the cwd param may name "
                         "besides --action-shell-cwd (repeatable; INI: separated by ';'); "
                         "empty: commands run in --action-shell-cwd"))
    register(Option("action-shell-cwd", default="/tmp", section="action", metavar="DIR",
                    help="working directory of commands; a relative cwd param is resolved "
                         "against it"))
    register(Option("action-shell-wait", type=bool, default=False, section="action",
                    help="wait for each command to exit: a non-zero exit fails the firing "
                         "and --action-timeout kills it; by default, as the original forsun, "
                         "a firing is done once its command has started (its exit status "
                         "and output are logged); the wait param of a plan overrides this"))
    register(Option("action-shell-retry-nonzero", type=bool, default=False, section="action",
                    help="with waiting, retry a command that exits with a non-zero code (by "
                         "default it is logged as failed and not retried)"))


@hookimpl
def forsun_startup(service: "Service") -> None:
    for level, message in startup_warnings(service.options, os.geteuid()):
        log.log(level, "%s", message)
