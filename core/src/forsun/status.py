"""Legacy import path: the original forsun's ``forsun.status`` (the code lives in
:mod:`forsun.legacy.status`)."""

from .legacy.status import ForsunStatus, forsun_status

__all__ = ["ForsunStatus", "forsun_status"]
