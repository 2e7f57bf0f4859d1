"""Loading legacy ``--extension module.Class`` extensions of the original forsun.

Each extension class is imported (``--extension-path``, made absolute, is put first on
``sys.path``) and registered as a :class:`forsun.extension.LegacyExtensionPlugin` named
``extension:module.Class``; its actions and stores land in the same registries as every
other plugin's.

An extension may also be installed as a distribution whose entry point is a
:class:`~forsun.extension.LegacyExtensionPlugin` of the same class (forsun-action-celery
is one). Naming it with ``--extension`` as well is harmless: the class is loaded once,
from the plugin, and the start-up log says so. Any other name clash is an error at
start-up that names both sides: in the original a later registration silently replaced
an earlier one; here the user chooses with ``--block-plugin NAME`` or by dropping the
``--extension``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import pluggy

from ..plugins import Registry, collect_actions, collect_stores, distribution_of
from .extension import Extension, LegacyExtensionPlugin

#: Prefix of the plugin name an ``--extension`` gets.
PLUGIN_PREFIX = "extension:"


class ExtensionError(Exception):
    """An extension named on the command line or in the conf file cannot be loaded."""


def import_extension(dotted: str) -> type:
    module_name, _, class_name = dotted.rpartition(".")
    if not module_name:
        raise ExtensionError(f"--extension {dotted!r}: expected module.Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ExtensionError(f"--extension {dotted!r}: cannot import {module_name}: {exc}") \
            from exc
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ExtensionError(f"--extension {dotted!r}: {module_name} has no {class_name}") \
            from None


def load_extensions(pm: pluggy.PluginManager, path: str, names: Sequence[str]) -> None:
    """Register each legacy extension class in ``names`` as a plugin (see the module
    docstring for an extension that is also installed, and for name clashes)."""
    if not names:
        return
    path = os.path.abspath(path) if path else ""
    if path and path not in sys.path:
        sys.path.insert(0, path)
    for dotted in names:
        cls = import_extension(dotted)
        if not (isinstance(cls, type) and issubclass(cls, Extension)):
            raise ExtensionError(f"--extension {dotted!r} is not a forsun.extension.Extension "
                                 f"subclass")
        loaded = next((plugin for _, plugin in pm.list_name_plugin()
                       if isinstance(plugin, LegacyExtensionPlugin)
                       and plugin.extension_cls is cls), None)
        if loaded is not None:
            if dotted not in loaded.also_requested:
                loaded.also_requested.append(dotted)
            continue
        plugin = LegacyExtensionPlugin(cls)
        _refuse_clashes(pm, plugin, dotted)
        pm.register(plugin, name=PLUGIN_PREFIX + dotted)


def _refuse_clashes(pm: pluggy.PluginManager, plugin: LegacyExtensionPlugin,
                    dotted: str) -> None:
    """Raise ExtensionError when ``plugin`` registers an action or store name that a
    plugin already in ``pm`` registers."""
    try:
        ours = {"action": plugin.actions(), "store": plugin.stores()}
    except Exception as exc:
        raise ExtensionError(f"--extension {dotted}: register() failed: "
                             f"{type(exc).__name__}: {exc}") from exc
    theirs: dict[str, Registry] = {"action": collect_actions(pm), "store": collect_stores(pm)}
    for kind, names in ours.items():
        for name in names:
            if name not in theirs[kind]:
                continue
            owner = theirs[kind][name].plugin
            dist = distribution_of(pm, pm.get_plugin(owner))
            installed = f" (distribution {dist[0]} {dist[1]})" if dist else ""
            raise ExtensionError(
                f"--extension {dotted} registers {kind} {name!r}, which plugin {owner!r}"
                f"{installed} registers too: start forsund with --block-plugin {owner} to "
                f"use the extension's, or drop the --extension")
