"""Legacy import path: the original forsun's ``forsun.timer`` (the code lives in
:mod:`forsun.legacy.timer`)."""

from .legacy.timer import current

__all__ = ["current"]
