"""Legacy import path: the original forsun's ``forsun.store.store`` (the code lives in
:mod:`forsun.legacy.store`)."""

from ..legacy.store import Store

__all__ = ["Store"]
