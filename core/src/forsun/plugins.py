"""Building the plugin manager and collecting what plugins register.

The core's own built-ins are listed in :data:`DEFAULT_PLUGINS` as dotted module names and
are imported and registered exactly like third-party entry points in the ``forsun`` group.
Nothing is loaded at import time: call :func:`get_plugin_manager`.

A name registered by two plugins is an error naming both, unless one of them is a
*replacing* plugin (its ``replaces_registrations`` attribute is true: legacy extensions,
which in the original forsun replaced an action or store of the same name). Its entry then
wins over the other plugin's, and the later of two replacing plugins wins;
:attr:`Registry.replaced` records each replacement so forsund can warn about it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .options import Option

log = logging.getLogger(__name__)

#: Entry-point group and pluggy project name.
GROUP = "forsun"

#: Built-in plugins, by the short name used to block them.
DEFAULT_PLUGINS: dict[str, str] = {
    "core_options": "forsun.core_options",
    "frontend_thrift": "forsun.frontends.thrift",
    "frontend_http": "forsun.frontends.http",
    "http_insight": "forsun.frontends.insight_routes",
    "legacy": "forsun.legacy.plugin",
}
#: Built-ins forsund cannot run without (pytest's "essential plugins"): never blockable.
ESSENTIAL_PLUGINS = frozenset({"core_options"})


class PluginError(Exception):
    """A plugin could not be loaded or registered something inconsistent."""


def get_plugin_manager(
    *,
    entrypoints: bool = True,
    builtins: bool = True,
    only: Iterable[str | ModuleType | object] | None = None,
    block: Iterable[str] = (),
) -> pluggy.PluginManager:
    """A fresh plugin manager.

    ``only``: register exactly these plugins (objects or dotted module names) and nothing
    else; tests use it to hold just the plugin under test. Otherwise the built-ins (unless
    ``builtins`` is false) and the ``forsun`` entry points (unless ``entrypoints`` is false)
    are loaded. ``block`` names plugins (short names) that must not load; blocking one of
    :data:`ESSENTIAL_PLUGINS` raises :class:`PluginError`.
    """
    essential = sorted(ESSENTIAL_PLUGINS.intersection(block))
    if essential:
        raise PluginError(f"--block-plugin {essential[0]}: the plugin is essential (it declares "
                          "the core's own options) and cannot be blocked")
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    for name in block:
        pm.set_blocked(name)
    if only is not None:
        for plugin in only:
            register_plugin(pm, plugin)
    else:
        if builtins:
            for name, module in DEFAULT_PLUGINS.items():
                if not pm.is_blocked(name):
                    pm.register(importlib.import_module(module), name=name)
        if entrypoints:
            _load_entrypoints(pm)
    pm.check_pending()
    return pm


def _load_entrypoints(pm: pluggy.PluginManager) -> None:
    """Register the ``forsun`` entry points; :class:`PluginError` naming the plugin, its
    distribution and what is missing when one cannot be imported."""
    try:
        pm.load_setuptools_entrypoints(GROUP)
    except ImportError as exc:
        raise PluginError(_import_failure(pm, exc)) from exc


def _import_failure(pm: pluggy.PluginManager, exc: ImportError) -> str:
    """Say which entry point failed with ``exc``: the first, in pluggy's order, that is
    not registered and whose import fails again (those before it are imported already)."""
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != GROUP or pm.get_plugin(ep.name) or pm.is_blocked(ep.name):
                continue
            try:
                ep.load()
            except ImportError as failure:
                return (f"plugin {ep.name} ({dist.metadata['name']} {dist.version}) cannot "
                        f"be imported: {failure}; install what it needs, or start forsund "
                        f"with --block-plugin {ep.name}")
    return f"a plugin cannot be imported: {exc}"


def register_plugin(pm: pluggy.PluginManager, plugin: str | ModuleType | object,
                    name: str | None = None) -> str | None:
    """Register a plugin given as an object or a dotted module name; returns its name."""
    if isinstance(plugin, str):
        name = name or plugin
        plugin = importlib.import_module(plugin)
    registered = pm.register(plugin, name=name)
    pm.check_pending()
    return registered


def resolve_target(target: str) -> Any:
    """The object named by ``"module:attribute"`` (dots after the colon reach attributes)."""
    module_name, _, attribute = target.partition(":")
    if not attribute:
        raise ValueError(f"{target!r} is not 'module:attribute'")
    found: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


def lazy(target: str) -> Callable[..., Any]:
    """A factory for ``register(name, factory)`` that imports ``"module:Class"`` only when
    called, so listing plugins never imports their client libraries."""

    def factory(*args: Any, **kwargs: Any) -> Any:
        return resolve_target(target)(*args, **kwargs)

    factory.__qualname__ = factory.__name__ = f"lazy({target})"
    return factory


@attrs.define
class Registration:
    """One named thing a plugin registered; ``replaces``: it came from a replacing plugin."""

    name: str
    factory: Callable[..., Any]
    plugin: str
    replaces: bool = False


class Registry:
    """Names to factories of one kind (``store``, ``action`` or ``frontend``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.entries: dict[str, Registration] = {}
        #: ``(name, the plugin replaced, the plugin whose entry won)`` per replacement.
        self.replaced: list[tuple[str, str, str]] = []

    def add(self, name: str, factory: Callable[..., Any], plugin: str, *,
            replaces: bool = False) -> None:
        """Register ``name``; see the module docstring for a name registered twice."""
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {self.kind} with no name")
        entry = Registration(name, factory, plugin, replaces)
        first = self.entries.get(name)
        if first is not None:
            if not (replaces or first.replaces):
                raise PluginError(
                    f"{self.kind} {name!r} is registered by both {first.plugin!r} and "
                    f"{plugin!r}; block one of them")
            if first.replaces and not replaces:
                entry, first = first, entry
            self.replaced.append((name, first.plugin, entry.plugin))
        self.entries[name] = entry

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __getitem__(self, name: str) -> Registration:
        return self.entries[name]


def _collect(pm: pluggy.PluginManager, hook_name: str, kind: str) -> Registry:
    registry = Registry(kind)
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():  # registration order
        replaces = bool(getattr(impl.plugin, "replaces_registrations", False))

        def register(name: str, factory: Callable[..., Any], _plugin=impl.plugin_name,
                     _replaces=replaces) -> None:
            registry.add(name, factory, _plugin, replaces=_replaces)

        impl.function(**{arg: register for arg in impl.argnames})
    return registry


def collect_stores(pm: pluggy.PluginManager) -> Registry:
    return _collect(pm, "register_stores", "store")


def collect_actions(pm: pluggy.PluginManager) -> Registry:
    return _collect(pm, "register_actions", "action")


def collect_frontends(pm: pluggy.PluginManager) -> Registry:
    return _collect(pm, "register_frontends", "frontend")


def collect_plan_sources(pm: pluggy.PluginManager) -> Registry:
    return _collect(pm, "register_plan_sources", "plan source")


def collect_migration_endpoints(pm: pluggy.PluginManager) -> Registry:
    return _collect(pm, "register_migration_endpoints", "migration endpoint")


def collect_options(pm: pluggy.PluginManager) -> dict[str, list[Option]]:
    """Options declared by each plugin, by plugin name; a flag declared twice is an error."""
    by_plugin: dict[str, list[Option]] = {}
    owner: dict[str, str] = {}
    for impl in pm.hook.register_options.get_hookimpls():
        declared: list[Option] = []

        def register(option: Option, _declared=declared) -> None:
            _declared.append(option)

        impl.function(**{arg: register for arg in impl.argnames})
        for option in declared:
            if option.name in owner:
                raise PluginError(
                    f"option --{option.name} is declared by both {owner[option.name]!r} "
                    f"and {impl.plugin_name!r}"
                )
            owner[option.name] = impl.plugin_name
        by_plugin.setdefault(impl.plugin_name, []).extend(declared)
    return by_plugin


def distribution_of(pm: pluggy.PluginManager, plugin: object) -> tuple[str, str] | None:
    """``(distribution name, version)`` of a plugin loaded from an entry point, else None."""
    for loaded, dist in pm.list_plugin_distinfo():
        if loaded is plugin:
            return dist.metadata["name"], dist.version
    return None


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """What ``forsund plugins`` prints: each plugin's name, distribution, version, hooks and
    the names it registers."""
    from . import __version__

    registered: dict[str, dict[str, list[str]]] = {}
    for kind, registry in (("stores", collect_stores(pm)), ("actions", collect_actions(pm)),
                           ("frontends", collect_frontends(pm)),
                           ("plan_sources", collect_plan_sources(pm)),
                           ("migration_endpoints", collect_migration_endpoints(pm))):
        for entry in registry.entries.values():
            registered.setdefault(entry.plugin, {}).setdefault(kind, []).append(entry.name)
    for impl in pm.hook.register_routes.get_hookimpls():
        routes = registered.setdefault(impl.plugin_name, {}).setdefault("routes", [])
        impl.function(**{arg: (lambda route, _routes=routes: _routes.append(
            f"{route.method} {route.path}")) for arg in impl.argnames})
    options = collect_options(pm)
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = distribution_of(pm, plugin) or ("forsun", __version__)
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        row: dict[str, Any] = {"name": name, "distribution": dist[0], "version": dist[1],
                               "hooks": hooks}
        row.update(registered.get(name, {}))
        if getattr(plugin, "failure", None):
            row["failed"] = plugin.failure
        if options.get(name):
            row["options"] = [opt.flag for opt in options[name]]
        rows.append(row)
    return rows
