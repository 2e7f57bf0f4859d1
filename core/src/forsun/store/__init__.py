"""Stores: the contract (:mod:`forsun.store.base`) and the original's store API
(:mod:`forsun.store.store`, a legacy import path of :mod:`forsun.legacy.store`)."""

from .base import DURABLE, MULTI_NODE, PERSISTENT, Store

__all__ = ["DURABLE", "MULTI_NODE", "PERSISTENT", "Store"]
