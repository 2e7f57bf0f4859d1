"""forsun: a high-precision timed-task service built from plugins.

A plugin writes ``from forsun import hookimpl`` and implements hooks from
:mod:`forsun.hookspecs`. The public types it needs are re-exported here.
"""

from .errors import ErrorCode, ForsunPlanError
from .hookspecs import hookimpl
from .plan import Plan

__version__ = "0.1.0"

__all__ = ["ErrorCode", "ForsunPlanError", "Plan", "__version__", "hookimpl"]
