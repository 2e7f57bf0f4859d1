"""forsun-frontend-timerush: a drop-in replacement for the timerush timer service.

Only hook implementations live here (aiohttp is imported when the front end or the action
is built, so ``forsund plugins`` stays fast):

- the front end ``timerush`` serves timerush's HTTP protocol (:mod:`.frontend`);
- the action ``timerush`` notifies the callbacks (:mod:`.action`);
- ``forsun_startup`` attaches the service to this service's own ``timerush`` action, so a
  callback's answer can register its follow-up timer through ``service.create``, like any
  front end does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from forsun import hookimpl
from forsun.options import Option
from forsun.plugins import lazy

from .protocol import ACTION

if TYPE_CHECKING:
    from forsun.service import Service


@hookimpl
def register_frontends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register(ACTION, lazy("forsun_frontend_timerush.frontend:TimerushFrontend"))


@hookimpl
def register_actions(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register(ACTION, lazy("forsun_frontend_timerush.action:TimerushAction"))


@hookimpl
def register_options(register: Callable[[Option], None]) -> None:
    # Off by default, like --http: a default address would make every forsund of a machine
    # where the plugin is installed bind it, and a second forsund fail to start.
    register(Option("timerush-listen", default="", metavar="HOST:PORT",
                    help="serve the timerush protocol on this address, e.g. 127.0.0.1:8080 "
                         "(timerush's default) or :8080 (all interfaces); off when empty"))
    register(Option("timerush-pem", default="", metavar="FILE",
                    help="client certificate and its unencrypted private key (PEM) presented "
                         "to https callbacks that require one"))
    register(Option("timerush-ca", default="", metavar="FILE",
                    help="CA certificates (PEM) trusted for https callbacks instead of the "
                         "system's"))
    register(Option("timerush-timeout", type=float, default=30.0, metavar="SECONDS",
                    help="a callback that has not answered in this time is retried"))
    register(Option("timerush-max-clients", type=int, default=64, metavar="N",
                    help="callback requests in flight at once; idle connections are reused"))


@hookimpl
def forsun_startup(service: Service) -> None:
    service.action(ACTION).attach(service)


@hookimpl
def register_plan_sources(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("timerush+redis", lazy("forsun_frontend_timerush.migrate:TimerushSource"))
