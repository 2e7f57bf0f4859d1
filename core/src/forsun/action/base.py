"""The action contract. An action fires an occurrence of a plan at its target.

One :class:`Action` instance serves every plan naming it, for the life of the service, so
it may keep connection pools (create them lazily, close them in :meth:`Action.close`).
"""

from __future__ import annotations

import abc
import asyncio
import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

from ..errors import ForsunPlanError

if TYPE_CHECKING:
    from ..options import Options
    from ..plan import Plan

T = TypeVar("T")


@attrs.frozen(slots=True)
class Firing:
    """One execution attempt of an occurrence: the plan's ``key``, the due second ``ts``
    (unix seconds), its ``params``, the plan itself and the attempt number (0 = first).
    ``manual``: an operator fired it (fire now, retry of a failure), not the schedule."""

    key: str
    ts: int
    params: Mapping[str, str]
    plan: Plan
    attempt: int = 0
    manual: bool = False


class ActionError(Exception):
    """An action failed. ``retry`` asks the engine to try the occurrence again later
    (e.g. a 5xx answer or a refused connection); the message names the target."""

    def __init__(self, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry


class Action(abc.ABC):
    """Abstract action. Built once with ``factory(options)``.

    Contract of :meth:`execute`: return normally on success; raise :class:`ActionError`
    on failure (``retry=True`` to be retried); any other exception counts as a failure
    that is retried. It must not block the event loop: blocking work goes through
    :meth:`run_blocking`. The engine enforces the timeout by cancelling the coroutine.
    """

    #: Params that must be present and non-empty (missing → 1007 naming the param).
    required_params: ClassVar[tuple[str, ...]] = ()

    #: The name plans use for this action; the service sets it to the registered name.
    name: str = ""

    def __init__(self, options: Options | None = None) -> None:
        self.options = options
        if not self.name:
            self.name = type(self).__name__

    def validate(self, params: Mapping[str, str]) -> None:
        """Reject params this action can never use; called when a plan is created.

        The default checks :attr:`required_params` and raises 1007 naming the first missing.
        """
        for param in self.required_params:
            if not params.get(param):
                raise ForsunPlanError.missing(f"params.{param}", self.name)

    def prepare(self, params: Mapping[str, str]) -> None:  # noqa: B027 - optional hook
        """Called for an occurrence claimed ahead of its due second, before it fires:
        the action may build now what :meth:`execute` will need for ``params``, off the
        boundary's critical path. Must not block; an error here is ignored (``execute``
        reports it)."""

    @abc.abstractmethod
    async def execute(self, firing: Firing) -> None:
        """Fire one occurrence (see the class docstring)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release pools and connections; called once at shutdown."""

    async def run_blocking(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``func`` in the service's thread pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(func, *args, **kwargs))
