"""Legacy import path: the original forsun's ``forsun.error`` (the code lives in
:mod:`forsun.legacy.error`)."""

from .legacy.error import (
    ActionExecuteRetry,
    ExecuteActionError,
    ForsunPlanError,
    NotFoundPlanError,
    RemovePlanError,
    RequiredArgumentError,
    StorePlanError,
    UnknownActionError,
    UnknownError,
    WillNeverArriveTimeError,
)

__all__ = [
    "ActionExecuteRetry", "ExecuteActionError", "ForsunPlanError", "NotFoundPlanError",
    "RemovePlanError", "RequiredArgumentError", "StorePlanError", "UnknownActionError",
    "UnknownError", "WillNeverArriveTimeError",
]
