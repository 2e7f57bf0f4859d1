"""Loading legacy ``--extension module.Class`` extensions of the original forsun.

Each extension class is imported (``--extension-path`` is put on ``sys.path`` first) and
wrapped in a plugin object whose registration hooks run the extension's ``register()``;
its ``register_action``/``register_store`` calls land in the same registries as every
other plugin's (see :mod:`forsun.extension`).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

import pluggy

log = logging.getLogger(__name__)


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
    """Register each legacy extension class in ``names`` as a plugin named after it."""
    if not names:
        return
    if path and path not in sys.path:
        sys.path.insert(0, path)
    from .extension import LegacyExtensionPlugin

    for dotted in names:
        cls = import_extension(dotted)
        pm.register(LegacyExtensionPlugin(cls), name=f"extension:{dotted}")
        log.info("extension %s loaded", dotted)
