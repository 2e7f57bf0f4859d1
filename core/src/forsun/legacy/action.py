"""The original forsun's action API, kept so extensions written for it run unmodified::

    from forsun.action.action import Action, ActionExecuteRetry, ExecuteActionError

    class CeleryAction(Action):
        async def execute(self, *args, **kwargs):
            method = self.params.get("method", "")   # self.ts, self.plan, self.action too
            ...

A legacy action class is instantiated per firing as ``cls(ts, plan, action, params)`` and
its ``execute()`` is awaited (a coroutine function, a tornado ``gen.coroutine`` or a plain
function all work). ``plan`` is handed over as the original handed it: as it is after this
occurrence (``current_count`` counts it, ``last_timeout`` is ``ts``, ``next_time`` is the
following occurrence, 0 when there is none, where the original said None).
:class:`LegacyActionAdapter` runs such a class under the action
contract (:class:`forsun.action.base.Action`); one adapter serves every firing, so a legacy
class that caches clients does it at class level, as the original's drivers did.

Outcomes, as in the original: returning is success; :class:`ActionExecuteRetry` asks for a
retry; :class:`ExecuteActionError` or any other exception is a failure that is not retried.

Additions the original did not have (a class written for the original simply ignores them):

- ``self.options``: the service's resolved :class:`forsun.options.Options` (the original
  read its ``config`` module instead);
- ``required_params`` (class attribute): params a plan must carry, checked when the plan
  is created (error 1007 naming the first missing one) instead of failing at fire time.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from ..action.base import Action as ContractAction
from ..action.base import ActionError, Firing
from ..schedule import get_zone, next_due
from .plan import Plan as LegacyPlan
from .registry import factory_for

if TYPE_CHECKING:
    from ..options import Options
    from ..plan import Plan


class ExecuteActionError(Exception):
    """Raised by legacy actions for a failure that should not be retried."""


class ActionExecuteRetry(Exception):
    """Raised by legacy actions to ask for a retry."""


class Action:
    """Base class of legacy actions: ``self.ts`` is the due second, ``self.plan`` the plan
    (a :class:`forsun.legacy.plan.Plan`: the original's attribute names and ``dumps()``),
    ``self.action`` its action name and ``self.params`` its params."""

    #: Params a plan naming this action must carry (an addition, see the module docstring).
    required_params: ClassVar[tuple[str, ...]] = ()
    #: The service's options, set by the adapter before ``execute`` (an addition).
    options: Options | None = None

    def __init__(self, ts: int, plan: Plan, action: str, params: dict[str, str]) -> None:
        self.ts = ts
        self.plan = plan
        self.action = action
        self.params = params

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError()


class LegacyActionAdapter(ContractAction):
    """Runs the legacy action class ``legacy_cls`` under the action contract."""

    def __init__(self, legacy_cls: type, options: Options | None = None) -> None:
        super().__init__(options)
        self.legacy_cls = legacy_cls
        self.name = legacy_cls.__name__
        self.required_params = tuple(getattr(legacy_cls, "required_params", ()))
        self.zone = get_zone((options or {}).get("timezone") or "UTC")

    def fired(self, firing: Firing) -> LegacyPlan:
        """The firing's plan as the original handed it to actions (see the module
        docstring)."""
        plan = firing.plan
        count = plan.current_count + 1
        following = None
        if not plan.count or count < plan.count:
            following = next_due(plan, firing.ts, self.zone)
        return LegacyPlan.of(attrs.evolve(plan, current_count=count, last_timeout=firing.ts,
                                          next_time=following or 0))

    async def execute(self, firing: Firing) -> None:
        legacy = self.legacy_cls(firing.ts, self.fired(firing), firing.plan.action,
                                 dict(firing.params))
        legacy.options = self.options
        try:
            result = legacy.execute()
            if inspect.isawaitable(result):
                await result
        except ActionError:
            raise
        except ActionExecuteRetry as exc:
            reason = str(exc) or "asked for a retry"
            raise ActionError(f"{self.name} {firing.key}: {reason}", retry=True) from exc
        except Exception as exc:
            raise ActionError(f"{self.name} {firing.key}: {type(exc).__name__}: {exc}",
                              retry=False) from exc


def adapt_action(cls: type) -> Any:
    """The action factory (``factory(options)``) for a class given to ``register_action``:
    a contract action class is its own factory, a legacy one is wrapped in
    :class:`LegacyActionAdapter`."""
    return factory_for(cls, ContractAction, Action, LegacyActionAdapter,
                       "forsun.action.action.Action")
