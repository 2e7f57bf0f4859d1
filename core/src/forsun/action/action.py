"""Legacy import path: the original forsun's ``forsun.action.action`` (the code lives in
:mod:`forsun.legacy.action`)."""

from ..legacy.action import Action, ActionExecuteRetry, ExecuteActionError

__all__ = ["Action", "ActionExecuteRetry", "ExecuteActionError"]
