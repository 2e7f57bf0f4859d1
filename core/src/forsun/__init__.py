"""forsun: a high-precision timed-task service built from plugins.

A plugin writes ``from forsun import hookimpl`` and implements hooks from
:mod:`forsun.hookspecs`. The public types it needs are re-exported here.
"""

import importlib.metadata

from .errors import ErrorCode, ForsunPlanError
from .hookspecs import hookimpl
from .plan import Plan

#: The installed distribution's version (``nox -s bump`` sets it in pyproject.toml).
__version__ = importlib.metadata.version("forsun")

__all__ = ["ErrorCode", "ForsunPlanError", "Plan", "__version__", "hookimpl"]
