"""Stores: the contract (:mod:`forsun.store.base`) and the original's store API
(:mod:`forsun.store.store`, for legacy extensions)."""

from .base import DURABLE, MULTI_NODE, PERSISTENT, Store

__all__ = ["DURABLE", "MULTI_NODE", "PERSISTENT", "Store"]
