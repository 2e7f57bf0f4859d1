"""The original forsun's module-level registries: ``forsun.action.register_action`` /
``get_driver_names`` and ``forsun.store.register_store`` / ``get_store_names``.

A class registered here becomes an action or store of forsund like one an extension
registers with ``self.register_action``: called while an extension's ``register()`` runs,
it counts as that extension's; called anywhere else (at import of a module, say), it
belongs to the built-in plugin ``legacy`` (:mod:`forsun.legacy.plugin`). Either way it
replaces an existing name with a warning, as in the original. Register before forsund
starts its service: the original looked actions up at every firing, forsund reads its
registries once at start-up.

``get_driver_names()`` / ``get_store_names()`` name every action / store of the running
service (those registered here before it runs).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

from . import running

log = logging.getLogger(__name__)

#: Registered outside any extension: factories by name, per kind ("action", "store").
unowned: dict[str, dict[str, Callable[..., Any]]] = {"action": {}, "store": {}}
_registering: list[object] = []  # extensions whose register() is running


def registered(extension: object, kind: str) -> dict[str, Callable[..., Any]]:
    """Factories of the ``kind`` ("action" or "store") an extension registered, by name
    (kept on the instance, so subclasses need not call ``super().__init__()``)."""
    return vars(extension).setdefault(f"_forsun_{kind}s", {})


@contextlib.contextmanager
def registering(extension: object) -> Iterator[None]:
    """Attribute module-level registrations made inside this block to ``extension``."""
    _registering.append(extension)
    try:
        yield
    finally:
        _registering.pop()


def factory_for(cls: type, contract: type, legacy: type, adapter: Callable[..., Any],
                legacy_path: str) -> Any:
    """The factory (``factory(options)``) for a class given to a legacy ``register_*``: a
    ``contract`` subclass is its own factory, a ``legacy`` one (the class the original's
    ``legacy_path`` names) is wrapped in ``adapter``; anything else is a TypeError."""
    if isinstance(cls, type) and issubclass(cls, contract):
        return cls
    if isinstance(cls, type) and issubclass(cls, legacy):
        return functools.partial(adapter, cls)
    raise TypeError(f"{cls!r} is neither a {legacy_path} nor a "
                    f"{contract.__module__}.{contract.__name__} subclass")


def add(kind: str, name: str, cls: type) -> bool:
    """Register ``cls`` as the ``kind`` named ``name``; False (nothing registered) when it
    is no class of that kind, as in the original."""
    from .action import adapt_action  # here: forsun.action and forsun.store import this
    from .store import adapt_store

    adapt = adapt_action if kind == "action" else adapt_store
    try:
        factory = adapt(cls)
    except TypeError as exc:
        log.warning("%s %r not registered: %s", kind, name, exc)
        return False
    target = registered(_registering[-1], kind) if _registering else unowned[kind]
    target[name] = factory
    log.info("%s register %s %s", kind, name, cls)
    return True


def register_action(name: str, cls: type) -> bool:
    return add("action", name, cls)


def register_store(name: str, cls: type) -> bool:
    return add("store", name, cls)


def get_driver_names() -> list[str]:
    """Names of the actions (of the running service, else those registered here)."""
    service = running.service()
    if service is not None:
        return service.action_registry.names()
    return sorted(unowned["action"])


def get_store_names() -> list[str]:
    """Names of the stores (of the running service, else those registered here)."""
    service = running.service()
    if service is not None:
        return service.store_registry.names()
    return sorted(unowned["store"])
