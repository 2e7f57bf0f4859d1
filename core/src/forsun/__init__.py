"""forsun: a high-precision timed-task service built from plugins.

A plugin writes ``from forsun import hookimpl`` and implements hooks from
:mod:`forsun.hookspecs`. The public types it needs are re-exported here.

Code written for the original forsun imports from here too: ``Extension``, ``Action``,
``Store``, ``Plan`` (with the original's ``dumps``/``loads``), ``config``, ``version``,
``version_info``, ``ThriftClient`` and ``TorThriftClient`` (:mod:`forsun.legacy`). Those
are imported on first use, so ``from forsun import hookimpl`` stays cheap.
"""

import importlib
import importlib.metadata
from typing import Any

from .errors import ErrorCode, ForsunPlanError
from .hookspecs import hookimpl
from .legacy.plan import Plan

#: The installed distribution's version (``nox -s bump`` sets it in pyproject.toml).
__version__ = importlib.metadata.version("forsun")

from .version import version, version_info

#: Names of the original forsun's API, by the module that holds each.
_LEGACY = {
    "Extension": "forsun.legacy.extension",
    "Action": "forsun.legacy.action",
    "Store": "forsun.legacy.store",
    "ThriftClient": "forsun.legacy.clients",
    "TorThriftClient": "forsun.legacy.clients",
}


def __getattr__(name: str) -> Any:
    if name in _LEGACY:
        value = getattr(importlib.import_module(_LEGACY[name]), name)
    elif name == "config":
        value = importlib.import_module("forsun.config")
    else:
        raise AttributeError(f"module 'forsun' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = ["Action", "ErrorCode", "Extension", "ForsunPlanError", "Plan", "Store",
           "ThriftClient", "TorThriftClient", "__version__", "config", "hookimpl", "version",
           "version_info"]
