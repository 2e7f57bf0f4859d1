"""The original forsun's action API, kept so extensions written for it run unmodified.

A legacy action class is built per firing as ``cls(ts, plan, action, params)`` and its
``execute()`` coroutine is awaited. :class:`LegacyActionAdapter` turns such a class into a
contract :class:`forsun.action.base.Action`.
"""

from __future__ import annotations

import inspect
from typing import Any

from .base import Action as ContractAction
from .base import ActionError, Firing


class ExecuteActionError(Exception):
    """Raised by legacy actions for a failure that should not be retried."""


class ActionExecuteRetry(Exception):
    """Raised by legacy actions to ask for a retry."""


class Action:
    """Base class of legacy actions: ``self.ts`` is the due second, ``self.plan`` the plan,
    ``self.action`` its action name and ``self.params`` its params."""

    def __init__(self, ts: int, plan: Any, action: str, params: dict[str, str]) -> None:
        self.ts = ts
        self.plan = plan
        self.action = action
        self.params = params

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError()


class LegacyActionAdapter(ContractAction):
    """Runs a legacy action class under the action contract."""

    def __init__(self, legacy_cls: type, options: Any = None) -> None:
        super().__init__(options)
        self.legacy_cls = legacy_cls
        init = getattr(legacy_cls, "init", None)
        if callable(init):
            init()

    @property
    def name(self) -> str:
        return self.legacy_cls.__name__

    async def execute(self, firing: Firing) -> None:
        legacy = self.legacy_cls(firing.ts, firing.plan, firing.plan.action, dict(firing.params))
        try:
            result = legacy.execute()
            if inspect.isawaitable(result):
                await result
        except ActionExecuteRetry as exc:
            raise ActionError(f"{self.name}: {exc}", retry=True) from exc
        except ExecuteActionError as exc:
            raise ActionError(f"{self.name}: {exc}", retry=False) from exc
