"""The built-in plugin ``legacy``: what the original forsun's module-level APIs need from a
running forsund.

- It registers the actions and stores given to ``forsun.action.register_action`` /
  ``forsun.store.register_store`` outside any extension (:mod:`forsun.legacy.registry`),
  replacing a name another plugin registers, as the original did.
- At start-up it binds ``forsun.config``, ``forsun.status``, ``forsun.timer`` and the
  registries to the service, warns about every action or store an extension replaced,
  and logs each ``--extension`` that failed to load. They stay bound after the service
  stopped (a legacy store's ``uninit`` still reads ``forsun.config`` when the store
  closes, after every shutdown hook), until another service starts.
- ``info`` gets ``failed_extensions``: each one that failed, with the reason.

Registered first among the plugins, so extensions' ``init()`` already sees the bindings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl
from . import config, running
from .loading import failed_extensions
from .registry import unowned

if TYPE_CHECKING:
    from ..service import Service

log = logging.getLogger(__name__)

#: Read by :mod:`forsun.plugins`: the registrations here replace other plugins' names.
replaces_registrations = True


@hookimpl
def register_actions(register: Callable[[str, Callable[..., Any]], None]) -> None:
    for name, factory in unowned["action"].items():
        register(name, factory)


@hookimpl
def register_stores(register: Callable[[str, Callable[..., Any]], None]) -> None:
    for name, factory in unowned["store"].items():
        register(name, factory)


@hookimpl
def forsun_startup(service: Service) -> None:
    running.bind(service)
    config.bind(service.options)
    for registry in (service.action_registry, service.store_registry):
        for name, replaced, winner in registry.replaced:
            log.warning("%s %r of plugin %r is replaced by plugin %r's, as the original "
                        "forsun let a later registration replace an earlier one; start "
                        "forsund with --block-plugin %s to keep the first", registry.kind,
                        name, replaced, winner, winner)
    for failed in failed_extensions(service.pm):
        log.error("extension %s failed to load: %s; forsund runs without it",
                  failed.dotted, failed.failure)


@hookimpl
def forsun_info(service: Service) -> dict[str, str]:
    return {"failed_extensions": ";".join(f"{failed.dotted}: {failed.failure}"
                                          for failed in failed_extensions(service.pm))}
