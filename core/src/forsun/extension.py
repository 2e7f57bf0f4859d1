"""The original forsun's extension API, kept so extensions written for it run unmodified::

    from forsun.extension import Extension
    class CeleryExtension(Extension):
        name = "celery"
        def register(self):
            self.register_action("celery", CeleryAction)

An extension is loaded with ``--extension module.Class`` and becomes an ordinary plugin
(:class:`LegacyExtensionPlugin`): its registrations go through the same hooks as any other.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from .action.action import LegacyActionAdapter
from .hookspecs import hookimpl

log = logging.getLogger(__name__)


class Extension:
    """Base class of legacy extensions. Override :meth:`register`; ``init``/``uninit``
    run at service start-up and shutdown."""

    name = ""

    def __init__(self) -> None:
        self._actions: dict[str, type] = {}
        self._stores: dict[str, type] = {}

    def register_action(self, name: str, cls: type) -> bool:
        self._actions[name] = cls
        return True

    def register_store(self, name: str, cls: type) -> bool:
        self._stores[name] = cls
        return True

    def register(self) -> None:
        pass

    def init(self) -> None:
        pass

    def uninit(self) -> None:
        pass


class LegacyExtensionPlugin:
    """A plugin object wrapping one legacy extension class."""

    def __init__(self, extension_cls: type[Extension]) -> None:
        self.extension_cls = extension_cls
        self.extension = extension_cls()
        for attr in ("_actions", "_stores"):  # subclasses may skip super().__init__()
            if not hasattr(self.extension, attr):
                setattr(self.extension, attr, {})
        self.extension.register()
        name = getattr(extension_cls, "name", "") or extension_cls.__name__
        for action in self.extension._actions:
            log.info("extension %s registered action %s", name, action)
        for store in self.extension._stores:
            log.info("extension %s registered store %s", name, store)

    @hookimpl
    def register_actions(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        for name, cls in self.extension._actions.items():
            register(name, functools.partial(_build_action, cls))

    @hookimpl
    def register_stores(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        from .store.store import adapt_store

        for name, cls in self.extension._stores.items():
            register(name, adapt_store(cls))

    @hookimpl
    def forsun_startup(self) -> None:
        self.extension.init()

    @hookimpl
    def forsun_shutdown(self) -> None:
        self.extension.uninit()


def _build_action(cls: type, options: Any = None) -> LegacyActionAdapter:
    return LegacyActionAdapter(cls, options)
