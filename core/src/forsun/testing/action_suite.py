"""``ActionConformance``: the action contract of :mod:`forsun.action.base` as tests.

An action plugin describes its real target with an :class:`ActionTarget` and subclasses
:class:`ActionConformance` once, overriding the ``action`` and ``target`` fixtures::

    class TestMyAction(ActionConformance):
        @pytest.fixture
        def action(self):
            return MyAction(make_options())

        @pytest.fixture
        def target(self, my_receiver):
            return MyTarget(my_receiver)
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import contextlib
import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from ..action.base import Action, ActionError, Firing
from ..errors import ErrorCode, ForsunPlanError
from .fixtures import build_firing


class ActionTarget(abc.ABC):
    """What an action's test knows about the real target the action delivers to.

    A method returning None declares that the situation cannot happen for this action;
    the tests needing it are then skipped with that reason.
    """

    #: The target sees the due second (``Firing.ts``), e.g. as a header or env variable.
    passes_timestamp: ClassVar[bool] = True
    #: The action's client blocks, so it must go through ``Action.run_blocking``.
    blocking: ClassVar[bool] = False

    @abc.abstractmethod
    def ok_params(self) -> dict[str, str]:
        """Params with which ``execute`` succeeds and the target sees the delivery."""

    @abc.abstractmethod
    def failing_params(self) -> dict[str, str] | None:
        """Params with which ``execute`` fails for good (ActionError, ``retry=False``)."""

    @abc.abstractmethod
    def retry_params(self) -> dict[str, str] | None:
        """Params with which ``execute`` fails asking for a retry (``retry=True``)."""

    @abc.abstractmethod
    def slow_params(self, seconds: float) -> dict[str, str] | None:
        """Params with which ``execute`` takes at least ``seconds`` (waiting on the target)."""

    @abc.abstractmethod
    def missing_params(self) -> dict[str, str] | None:
        """Params lacking a required one: ``validate`` raises 1007 naming it."""

    @abc.abstractmethod
    async def deliveries(self) -> list[tuple[str, int | None]]:
        """``(key, due second)`` of every delivery the target saw so far (the second is
        None when the action cannot convey it)."""

    def state_changing_params(self) -> dict[str, str] | None:
        """Params (same target as :meth:`ok_params`) whose firing, failing or not, changes
        the session state of the pooled connection it ran on, so that the next firing
        lent that connection as it is would not deliver, or deliver elsewhere: another
        database selected, a transaction left open. None (the default): the action keeps
        no session state on its connections."""
        return None


def firing_for(params: Mapping[str, str], *, ts: int | None = None, attempt: int = 0) -> Firing:
    """A firing of a fresh plan (unique key) due at ``ts`` (default: three seconds ago, so
    an action passing the current time instead of ``ts`` is caught)."""
    ts = int(time.time()) - 3 if ts is None else ts
    return build_firing(params, key=f"conformance/{uuid.uuid4().hex[:16]}", ts=ts, attempt=attempt)


def declared(params: dict[str, str] | None, situation: str) -> dict[str, str]:
    if params is None:
        pytest.skip(f"the target declares that {situation} cannot happen for this action")
    return params


class _CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


class ActionConformance:
    """The contract tests every action inherits. Override ``action`` and ``target``."""

    pytestmark = [pytest.mark.conformance, pytest.mark.asyncio]

    #: Seconds a delivery may take to show up at the target.
    delivery_timeout = 10.0

    @pytest.fixture
    def action(self) -> Action:
        """Must be overridden: the action under test (the suite closes it)."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the action fixture: return an instance "
            f"of the action under test")

    @pytest.fixture
    def target(self) -> ActionTarget:
        """Must be overridden: the :class:`ActionTarget` the action delivers to."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the target fixture: return a "
            f"forsun.testing.ActionTarget for the action's real target")

    @pytest_asyncio.fixture(autouse=True)
    async def _close_action(self, action: Action):
        yield
        await action.close()

    async def delivered(self, target: ActionTarget, key: str) -> list[tuple[str, int | None]]:
        """The deliveries of ``key``, once there is at least one."""
        deadline = time.monotonic() + self.delivery_timeout
        while time.monotonic() < deadline:
            seen = [delivery for delivery in await target.deliveries() if delivery[0] == key]
            if seen:
                return seen
            await asyncio.sleep(0.02)
        pytest.fail(f"{key} never reached the target within {self.delivery_timeout:g}s")

    async def assert_delivered_once(self, target: ActionTarget, firing: Firing) -> None:
        expected_ts = firing.ts if target.passes_timestamp else None
        assert await self.delivered(target, firing.key) == [(firing.key, expected_ts)]

    # -- params ------------------------------------------------------------------------

    async def test_ok_params_are_valid(self, action: Action, target: ActionTarget) -> None:
        action.validate(target.ok_params())

    async def test_missing_required_param_is_rejected_with_1007(
            self, action: Action, target: ActionTarget) -> None:
        params = declared(target.missing_params(), "a missing required param")
        absent = set(target.ok_params()) - set(params)
        with pytest.raises(ForsunPlanError) as caught:
            action.validate(params)
        assert caught.value.code == ErrorCode.MISSING_ARGUMENT
        assert any(name in caught.value.message for name in absent), (
            f"the message does not name the missing param ({', '.join(sorted(absent))}): "
            f"{caught.value}")

    # -- delivery ----------------------------------------------------------------------

    async def test_execute_delivers_the_key_and_due_second(
            self, action: Action, target: ActionTarget) -> None:
        firing = firing_for(target.ok_params())
        await action.execute(firing)
        await self.assert_delivered_once(target, firing)

    async def test_a_retry_attempt_delivers_like_the_first(
            self, action: Action, target: ActionTarget) -> None:
        firing = firing_for(target.ok_params(), attempt=2)
        await action.execute(firing)
        await self.assert_delivered_once(target, firing)

    async def test_concurrent_executions_are_all_delivered(
            self, action: Action, target: ActionTarget) -> None:
        firings = [firing_for(target.ok_params(), ts=int(time.time()) - i) for i in range(20)]
        await asyncio.gather(*(action.execute(firing) for firing in firings))
        for firing in firings:
            await self.assert_delivered_once(target, firing)

    async def test_a_firing_hands_no_connection_state_to_the_next(
            self, action: Action, target: ActionTarget) -> None:
        params = declared(target.state_changing_params(), "a firing changing session state")
        with contextlib.suppress(ActionError):
            await action.execute(firing_for(params))
        after = firing_for(target.ok_params())
        await action.execute(after)
        await self.assert_delivered_once(target, after)

    # -- failures ----------------------------------------------------------------------

    async def test_failure_is_reported_without_retry(
            self, action: Action, target: ActionTarget) -> None:
        firing = firing_for(declared(target.failing_params(), "a final failure"))
        with pytest.raises(ActionError) as caught:
            await action.execute(firing)
        assert caught.value.retry is False, f"a final failure asked for a retry: {caught.value}"
        assert str(caught.value), "the error gives no message"

    async def test_failure_can_ask_for_a_retry(
            self, action: Action, target: ActionTarget) -> None:
        firing = firing_for(declared(target.retry_params(), "a retryable failure"))
        with pytest.raises(ActionError) as caught:
            await action.execute(firing)
        assert caught.value.retry is True, f"a retryable failure did not ask for a retry: " \
                                           f"{caught.value}"

    # -- time ----------------------------------------------------------------------------

    async def test_timeout_stops_the_execution(
            self, action: Action, target: ActionTarget) -> None:
        firing = firing_for(declared(target.slow_params(4.0), "a slow execution"))
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await action.execute(firing)
        assert time.monotonic() - started < 2.5, "the action ignored its cancellation"
        after = firing_for(target.ok_params())
        await action.execute(after)
        await self.assert_delivered_once(target, after)

    async def test_execution_does_not_block_the_event_loop(
            self, action: Action, target: ActionTarget) -> None:
        firing = firing_for(declared(target.slow_params(1.0), "a slow execution"))
        gaps: list[float] = []

        async def ticker() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        try:
            with contextlib.suppress(ActionError):
                await action.execute(firing)
        finally:
            ticking.cancel()
        assert time.monotonic() - started >= 0.9, "slow_params(1.0) took less than a second"
        assert max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.2f}s"

    async def test_blocking_client_runs_in_the_thread_pool(
            self, action: Action, target: ActionTarget) -> None:
        if not target.blocking:
            pytest.skip("the target declares a non-blocking client")
        executor = _CountingExecutor(max_workers=4)
        asyncio.get_running_loop().set_default_executor(executor)
        firing = firing_for(target.ok_params())
        await action.execute(firing)
        await self.assert_delivered_once(target, firing)
        assert executor.submitted > 0, "a blocking client ran without Action.run_blocking"
