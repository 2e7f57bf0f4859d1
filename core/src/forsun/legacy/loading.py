"""Loading legacy ``--extension module.Class`` extensions of the original forsun.

Each extension class is imported (``--extension-path``, made absolute, is put first on
``sys.path``), its ``register()`` run, and it is registered as a
:class:`forsun.extension.LegacyExtensionPlugin` named ``extension:module.Class``; its
actions and stores land in the same registries as every other plugin's. A name it
registers that another plugin registers too is replaced by the extension's, with a warning
at start-up (see :mod:`forsun.plugins`), as a later registration replaced an earlier one in
the original.

An extension that cannot be loaded (not importable, no such class, not an
:class:`~forsun.extension.Extension`, ``register()`` failing) does not stop forsund, as in
the original, whose sample conf file names placeholder extensions: it is registered as a
:class:`FailedExtension` plugin under the same name, which ``forsund plugins`` shows as
failed with the reason, ``info`` lists under ``failed_extensions``, and the start-up log
reports at ERROR.

An extension may also be installed as a distribution whose entry point is a
:class:`~forsun.extension.LegacyExtensionPlugin` of the same class (forsun-action-celery
is one). Naming it with ``--extension`` as well is harmless: the class is loaded once,
from the plugin, and the start-up log says so.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import pluggy

from .extension import Extension, LegacyExtensionPlugin

#: Prefix of the plugin name an ``--extension`` gets.
PLUGIN_PREFIX = "extension:"


class ExtensionError(Exception):
    """An extension named on the command line or in the conf file cannot be loaded."""


class FailedExtension:
    """The plugin standing for an ``--extension`` that could not be loaded: it registers
    nothing; ``failure`` says why."""

    def __init__(self, dotted: str, failure: str) -> None:
        self.dotted = dotted
        self.failure = failure


def import_extension(dotted: str) -> type:
    """The class ``module.Class`` names; ExtensionError says why there is none."""
    module_name, _, class_name = dotted.rpartition(".")
    if not module_name:
        raise ExtensionError(f"--extension {dotted!r}: expected module.Class")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ExtensionError(f"--extension {dotted!r}: cannot import {module_name}: "
                             f"{type(exc).__name__}: {exc}") from exc
    try:
        cls = getattr(module, class_name)
    except AttributeError:
        raise ExtensionError(f"--extension {dotted!r}: {module_name} has no {class_name}") \
            from None
    if not (isinstance(cls, type) and issubclass(cls, Extension)):
        raise ExtensionError(f"--extension {dotted!r} is not a forsun.extension.Extension "
                             f"subclass")
    return cls


def load_extensions(pm: pluggy.PluginManager, path: str, names: Sequence[str]) -> None:
    """Register each legacy extension class in ``names`` as a plugin, or as a
    :class:`FailedExtension` when it cannot be loaded (see the module docstring)."""
    if not names:
        return
    path = os.path.abspath(path) if path else ""
    if path and path not in sys.path:
        sys.path.insert(0, path)
    for dotted in names:
        name = PLUGIN_PREFIX + dotted
        try:
            plugin = _loaded(pm, dotted)
        except ExtensionError as exc:
            if not pm.has_plugin(name):
                pm.register(FailedExtension(dotted, str(exc)), name=name)
            continue
        if plugin is not None:
            pm.register(plugin, name=name)


def _loaded(pm: pluggy.PluginManager, dotted: str) -> LegacyExtensionPlugin | None:
    """A new plugin for the extension ``dotted`` names with its ``register()`` run, or
    None when a plugin already wraps that class."""
    cls = import_extension(dotted)
    loaded = next((plugin for _, plugin in pm.list_name_plugin()
                   if isinstance(plugin, LegacyExtensionPlugin) and plugin.extension_cls is cls),
                  None)
    if loaded is not None:
        if dotted not in loaded.also_requested:
            loaded.also_requested.append(dotted)
        return None
    plugin = LegacyExtensionPlugin(cls)
    try:
        plugin.actions()  # runs register()
    except Exception as exc:
        raise ExtensionError(f"--extension {dotted}: register() failed: "
                             f"{type(exc).__name__}: {exc}") from exc
    return plugin


def failed_extensions(pm: pluggy.PluginManager) -> list[FailedExtension]:
    """The extensions that could not be loaded, in the order they were named."""
    return [plugin for _, plugin in pm.list_name_plugin() if isinstance(plugin, FailedExtension)]
