"""Big wall-clock steps, beyond what core/tests/test_engine.py covers (steps of a few seconds).

The service runs on virtual time (:class:`forsun.testing.clock.VirtualClock`), whose wall
clock the test steps. Store and action are the reference store and a recording action.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from forsun import hookimpl
from forsun.action.base import Action, Firing
from forsun.plan import Plan
from forsun.plugins import get_plugin_manager
from forsun.service import Service
from forsun.testing.clock import VirtualClock
from forsun.testing.options import make_options
from forsun.testing.reference import ReferenceStore

MAX_CATCHUP = 5
STEP = 600


def second(clock: VirtualClock) -> int:
    return int(clock.now())


class Recorder(Action):
    def __init__(self) -> None:
        super().__init__()
        self.fired: list[tuple[str, int]] = []

    async def execute(self, firing: Firing) -> None:
        self.fired.append((firing.key, firing.ts))

    def of(self, key: str) -> list[int]:
        return [ts for k, ts in self.fired if k == key]


class Plugin:
    def __init__(self, store: ReferenceStore, action: Recorder) -> None:
        self.store, self.action = store, action

    @hookimpl
    def register_stores(self, register: Callable[..., None]) -> None:
        register("test", lambda options: self.store)

    @hookimpl
    def register_actions(self, register: Callable[..., None]) -> None:
        register("record", lambda options: self.action)


@pytest.fixture
async def running() -> AsyncIterator[tuple[Service, Recorder, VirtualClock]]:
    clock, action, store = VirtualClock(), Recorder(), ReferenceStore()
    store.clock = clock.now
    pm = get_plugin_manager(only=["forsun.core_options", Plugin(store, action)])
    service = Service(make_options(driver="test", max_catchup_seconds=MAX_CATCHUP), pm,
                      clock=clock)
    await service.start()
    yield service, action, clock
    await clock.drive(service.stop())


def delay(key: str, seconds: int, count: int = 1) -> Plan:
    return Plan(key=key, is_time_out=True, second=seconds, count=count, action="record")


async def test_a_forward_step_beyond_max_catchup(running):
    """Plans due inside the skipped span fire once; a repeating plan does not fire once per
    skipped second, only for the replayed window; plans due after the step wait."""
    service, action, clock = running
    every = await service.create(delay("every", 1, count=0))
    inside = await service.create(delay("inside", STEP // 2))
    beyond = await service.create(delay("beyond", STEP * 2))
    await clock.wait_for(lambda: len(action.of("every")) >= 2, 4)
    before = len(action.of("every"))
    clock.step(STEP)
    stepped_at = second(clock)
    await clock.wait_for(lambda: action.of("inside"), 3)
    await clock.wait_for(lambda: action.of("every") and action.of("every")[-1] >= stepped_at, 3)
    await clock.advance(2.2)
    fired = action.of("every")
    assert fired == sorted(set(fired)), "a second fired twice or out of order"
    assert fired[0] == every.next_time
    assert len(fired) - before <= MAX_CATCHUP + 4, "each skipped second fired"
    assert fired[-1] >= second(clock) - 1, "the plan stopped after the step"
    assert action.of("inside") == [inside.next_time]
    assert action.of("beyond") == []
    assert (await service.get("beyond")).next_time == beyond.next_time
    assert service.stats.counters["catchup_seconds_count"] >= MAX_CATCHUP - 1


async def step_back(service: Service, action: Recorder, clock: VirtualClock) -> Plan:
    """A plan firing every second, then a step back of :data:`STEP` s during which no
    second may fire again; returns the plan."""
    every = await service.create(delay("every", 1, count=0))
    await clock.wait_for(lambda: len(action.of("every")) >= 2, 4)
    clock.step(-STEP)
    await clock.advance(0.1)
    paused_at = len(action.of("every"))
    await clock.advance(2.0)
    fired = action.of("every")
    assert len(fired) <= paused_at + 1, "seconds replayed after a step back"
    assert fired == sorted(set(fired))
    return every


async def test_a_backward_step_fires_nothing_twice(running):
    await step_back(*running)


async def test_after_a_backward_step_is_corrected_each_missed_second_fires_once(running):
    service, action, clock = running
    every = await step_back(service, action, clock)
    clock.step(STEP)
    await clock.wait_for(lambda: action.of("every")[-1] >= second(clock) - 1, 3)
    fired = action.of("every")
    assert fired == list(range(every.next_time, every.next_time + len(fired)))


async def test_a_plan_created_while_the_clock_is_behind_fires_on_time(running):
    """A plan created during a backward step is due on the stepped clock; it must not wait
    until the clock has caught up with the seconds processed before the step."""
    service, action, clock = running
    await clock.wait_for(lambda: service.stats.counters.get("timer_loop_count", 0) >= 2, 4)
    clock.step(-STEP)
    plan = await service.create(delay("late", 1))
    await clock.wait_for(lambda: action.of("late"), 4)
    assert action.of("late") == [plan.next_time]


class FlakyClaims(ReferenceStore):
    """The reference store whose next ``failures`` claims raise."""

    failures = 0

    async def claim(self, up_to: int, **kwargs) -> list[Plan]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store unreachable")
        return await super().claim(up_to, **kwargs)


async def test_a_store_failure_while_the_clock_is_behind_does_not_stop_ticking():
    """A claim failing while the clock is stepped back is logged and tried again, as on the
    regular path: the tick loop must not end."""
    clock, action, store = VirtualClock(), Recorder(), FlakyClaims()
    store.clock = clock.now
    pm = get_plugin_manager(only=["forsun.core_options", Plugin(store, action)])
    service = Service(make_options(driver="test"), pm, clock=clock)
    await service.start()
    try:
        await clock.wait_for(lambda: service.stats.counters.get("timer_loop_count", 0) >= 2, 4)
        clock.step(-STEP)
        store.failures = 2
        await clock.advance(5)  # the loop sees the step within 2 s, then retries each second
        assert store.failures == 0
        plan = await service.create(delay("after", 1))
        await clock.wait_for(lambda: action.of("after"), 4)
        assert action.of("after") == [plan.next_time]
        assert service.stats.counters["timer_loop_ready_error_count"] >= 2
    finally:
        await clock.drive(service.stop())
