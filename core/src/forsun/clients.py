"""Legacy import path: the original forsun's ``forsun.clients`` (the code lives in
:mod:`forsun.legacy.clients`; the modern client is :mod:`forsun.client`)."""

from .legacy.clients import ForsunPlanError, ThriftClient, TorThriftClient

__all__ = ["ForsunPlanError", "ThriftClient", "TorThriftClient"]
