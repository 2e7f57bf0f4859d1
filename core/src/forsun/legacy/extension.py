"""The original forsun's extension API, kept so extensions written for it run unmodified::

    from forsun.extension import Extension

    class CeleryExtension(Extension):
        name = "celery"
        def register(self):
            self.register_action("celery", CeleryAction)   # register_store(name, cls) too

It is a thin layer over the plugin hooks, not a second plugin system: an extension class
becomes one plugin object, :class:`LegacyExtensionPlugin`, whose ``register_actions`` and
``register_stores`` hooks hand its registrations to the core's registries (legacy classes
wrapped by :func:`forsun.legacy.action.adapt_action` and
:func:`forsun.legacy.store.adapt_store`), and whose ``forsun_startup``/``forsun_shutdown``
hooks call the extension's ``init``/``uninit``.

Two ways load one: ``forsund --extension-path=DIR --extension=module.Class`` (or the
``[extension]`` section of the conf file; see :mod:`forsun.legacy.loading`), or a distribution
whose ``forsun`` entry point names a :class:`LegacyExtensionPlugin` instance::

    # forsun_action_celery.py, entry point: action_celery = "forsun_action_celery:plugin"
    plugin = LegacyExtensionPlugin(CeleryExtension, options=(Option("action-celery-broker"),))
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl
from ..plugins import distribution_of
from .registry import add, registered, registering

if TYPE_CHECKING:
    from ..options import Option
    from ..service import Service

log = logging.getLogger(__name__)


class Extension:
    """Base class of legacy extensions. Override :meth:`register`; ``init``/``uninit``
    run at service start-up and shutdown.

    ``register_action``/``register_store`` return False (and register nothing) for a class
    that is no action or store class, as in the original.
    """

    name = ""

    def register_action(self, name: str, cls: type) -> bool:
        with registering(self):
            return add("action", name, cls)

    def register_store(self, name: str, cls: type) -> bool:
        with registering(self):
            return add("store", name, cls)

    def register(self) -> None:
        pass

    def init(self) -> None:
        pass

    def uninit(self) -> None:
        pass



def _name(extension_cls: type) -> str:
    return getattr(extension_cls, "name", "") or extension_cls.__name__


class LegacyExtensionPlugin:
    """A plugin object wrapping one legacy extension class.

    The extension is built and its ``register()`` run on first use of a registration
    hook, not at construction, so a distribution may create the plugin at import time.
    ``options`` are declared through ``register_options`` (an extension cannot declare
    options itself: the original had none). What it registers replaces an action or store
    of the same name that another plugin registers (:data:`replaces_registrations`), as a
    later registration did in the original; forsund warns about it at start-up.
    ``init()`` and ``uninit()`` failing is logged, and forsund runs on, as in the original.
    """

    #: Read by :func:`forsun.plugins.collect_actions` and ``collect_stores``.
    replaces_registrations = True

    def __init__(self, extension_cls: type[Extension], *, options: Sequence[Option] = ()) -> None:
        self.extension_cls = extension_cls
        self.options = tuple(options)
        #: ``--extension`` names that asked for this same class again (see forsun.legacy.loading).
        self.also_requested: list[str] = []
        self._extension: Extension | None = None

    @property
    def name(self) -> str:
        """The extension's ``name`` (its class name when it has none)."""
        return _name(self.extension_cls)

    @property
    def dotted(self) -> str:
        """``module.Class``, as ``--extension`` names it."""
        return f"{self.extension_cls.__module__}.{self.extension_cls.__qualname__}"

    @property
    def extension(self) -> Extension:
        if self._extension is None:
            extension = self.extension_cls()
            with registering(extension):
                extension.register()
            self._extension = extension
        return self._extension

    def actions(self) -> dict[str, Callable[..., Any]]:
        return dict(registered(self.extension, "action"))

    def stores(self) -> dict[str, Callable[..., Any]]:
        return dict(registered(self.extension, "store"))

    @hookimpl
    def register_options(self, register: Callable[[Option], None]) -> None:
        for option in self.options:
            register(option)

    @hookimpl
    def register_actions(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        for name, factory in self.actions().items():
            register(name, factory)

    @hookimpl
    def register_stores(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        for name, factory in self.stores().items():
            register(name, factory)

    @hookimpl
    def forsun_startup(self, service: Service) -> Any:
        dist = distribution_of(service.pm, self)
        log.info("extension %s loaded as plugin %s%s from %s", self.dotted,
                 service.pm.get_name(self), f" ({dist[0]} {dist[1]})" if dist else "",
                 getattr(sys.modules.get(self.extension_cls.__module__), "__file__", "?"))
        for requested in self.also_requested:
            log.info("--extension %s names that same extension: loaded once", requested)
        for kind, names in (("action", self.actions()), ("store", self.stores())):
            for name in names:
                log.info("extension %s registered %s %s", self.name, kind, name)
        return self._lifecycle("init")

    @hookimpl
    def forsun_shutdown(self) -> Any:
        return self._lifecycle("uninit")

    async def _lifecycle(self, step: str) -> None:
        """Run the extension's ``init`` or ``uninit`` (awaited when it returns an
        awaitable); a failure is logged with the extension's name."""
        try:
            result = getattr(self.extension, step)()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            log.error("extension %s %s error: %s: %s", self.dotted, step,
                      type(exc).__name__, exc)
