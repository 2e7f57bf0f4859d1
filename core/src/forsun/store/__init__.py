"""Stores: the contract (:mod:`forsun.store.base`) and the original's store API
(:mod:`forsun.store.store`, a legacy import path of :mod:`forsun.legacy.store`, and the
original's ``register_store`` / ``get_store_names`` from :mod:`forsun.legacy.registry`).

``forsun.store.Store`` is the contract's base class; a store written for the original
imports its base class from ``forsun.store.store`` or ``forsun``.
"""

from ..legacy.registry import get_store_names, register_store
from .base import DURABLE, MULTI_NODE, PERSISTENT, Store

__all__ = ["DURABLE", "MULTI_NODE", "PERSISTENT", "Store", "get_store_names", "register_store"]
