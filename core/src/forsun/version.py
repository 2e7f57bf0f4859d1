"""Legacy import path: the original forsun's ``forsun.version``: ``version`` (this
distribution's version, as ``forsun.__version__``) and ``version_info`` (its numbers)."""

from . import __version__

version = __version__
version_info = tuple(int(part) for part in __version__.split(".")[:3] if part.isdigit())

__all__ = ["version", "version_info"]
