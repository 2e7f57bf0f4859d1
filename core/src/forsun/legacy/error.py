"""The original forsun's error module, kept for extensions that import from it.

Each class is a :class:`forsun.errors.ForsunPlanError` with its fixed code.
"""

from __future__ import annotations

from ..errors import ErrorCode, ForsunPlanError
from .action import ActionExecuteRetry, ExecuteActionError

__all__ = [
    "ActionExecuteRetry", "ExecuteActionError", "ForsunPlanError", "NotFoundPlanError",
    "RemovePlanError", "RequiredArgumentError", "StorePlanError", "UnknownActionError",
    "UnknownError", "WillNeverArriveTimeError",
]


class UnknownError(ForsunPlanError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.UNKNOWN, "unknown error")


class WillNeverArriveTimeError(ForsunPlanError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.TIME_NEVER_ARRIVES, "the time will never arrive")


class NotFoundPlanError(ForsunPlanError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.NOT_FOUND, "plan not found")


class StorePlanError(ForsunPlanError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.STORE_FAILED, "storing the plan failed")


class RemovePlanError(ForsunPlanError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.REMOVE_FAILED, "removing the plan failed")


class UnknownActionError(ForsunPlanError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.UNKNOWN_ACTION, "unknown action")


class RequiredArgumentError(ForsunPlanError):
    def __init__(self, argument: str) -> None:
        super().__init__(ErrorCode.MISSING_ARGUMENT, f"{argument} is required")
