"""Legacy import path: the original forsun's ``forsun.extension`` (the code lives in
:mod:`forsun.legacy.extension`)."""

from .legacy.extension import Extension

__all__ = ["Extension"]
