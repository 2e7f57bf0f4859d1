"""Legacy import path: the original forsun's ``forsun.config`` (the code lives in
:mod:`forsun.legacy.config`; forsund's own configuration is :mod:`forsun.options`)."""

from .legacy.config import DEFAULT_CONFIG, get, set, update

__all__ = ["DEFAULT_CONFIG", "get", "set", "update"]
