"""The engine, through the service, against the reference store and a recording action,
on virtual time (:class:`forsun.testing.clock.VirtualClock`): every wait is a virtual one,
so no result depends on the machine's load. Real-time checks are in
test_engine_process.py; clock steps are steps of the virtual wall clock.
"""

import gc
import math

import attrs
import pytest

from forsun import hookimpl
from forsun.action.base import Action, ActionError, Firing
from forsun.engine import EngineSettings
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.plan import STATUS_FAILED, STATUS_FINISHED, STATUS_SUCCEEDED, Plan
from forsun.plugins import get_plugin_manager
from forsun.service import Service
from forsun.store.base import FAILURES
from forsun.store.failures import FailureList
from forsun.testing.clock import VirtualClock
from forsun.testing.options import make_options
from forsun.testing.reference import ReferenceStore


class RecordingAction(Action):
    """Records every attempt as (key, ts, wall time, attempt); params choose behaviour:
    ``sleep`` seconds, ``mode`` ok / fail / retry."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock
        self.attempts: list[tuple[str, int, float, int]] = []
        self.params: list[tuple[str, dict[str, str]]] = []
        #: Keys whose firings succeed whatever their mode.
        self.healed: set[str] = set()
        #: (params, wall time) of each prepare call
        self.prepared: list[tuple[dict[str, str], float]] = []

    def prepare(self, params) -> None:
        self.prepared.append((dict(params), self.clock.now()))
        if params.get("mode") == "unprepared":
            raise RuntimeError("the firing reports it")

    async def execute(self, firing: Firing) -> None:
        self.attempts.append((firing.key, firing.ts, self.clock.now(), firing.attempt))
        self.params.append((firing.key, dict(firing.params)))
        if firing.params.get("sleep"):
            await self.clock.sleep(float(firing.params["sleep"]))
        mode = "ok" if firing.key in self.healed else firing.params.get("mode", "ok")
        if mode == "retry":
            raise ActionError("target asked for a retry", retry=True)
        if mode == "fail":
            raise ActionError("target refused")

    def fired(self, key: str) -> list[int]:
        return [ts for k, ts, _, attempt in self.attempts if k == key and attempt == 0]

    def params_of(self, key: str) -> list[dict[str, str]]:
        return [params for k, params in self.params if k == key]


class EnginePlugin:
    def __init__(self, store: ReferenceStore, action: RecordingAction) -> None:
        self.store = store
        self.action = action

    @hookimpl
    def register_stores(self, register):
        register("test", lambda options: self.store)

    @hookimpl
    def register_actions(self, register):
        register("record", lambda options: self.action)


class ClaimLog(ReferenceStore):
    """The reference store on the test's clock, recording each claim as (clock at the
    call, up_to, keys)."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.sleep = clock.sleep
        self.clock = clock.now
        self.claims: list[tuple[float, int, list[str]]] = []
        self.put_delay = 0.0

    async def put(self, plan: Plan) -> None:
        await super().put(plan)
        await self.sleep(self.put_delay)  # like waiting for an fsync after the write

    async def claim(self, up_to: int, **kwargs) -> list[Plan]:
        at = self.clock()
        plans = await super().claim(up_to, **kwargs)
        self.claims.append((at, up_to, [plan.key for plan in plans]))
        return plans


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def store(clock):
    return ClaimLog(clock)


@pytest.fixture
def action(clock):
    return RecordingAction(clock)


@pytest.fixture
async def start(store, action, clock):
    running: list[Service] = []

    async def start_service(**values) -> Service:
        pm = get_plugin_manager(only=["forsun.core_options", EnginePlugin(store, action)])
        values.setdefault("retry_delay_seconds", 0.2)
        service = Service(make_options(driver="test", **values), pm, clock=clock)
        await service.start()
        running.append(service)
        return service

    yield start_service
    for service in running:
        await clock.drive(service.stop())


def delay_plan(key: str, seconds: int = 1, count: int = 1, **params: str) -> Plan:
    return Plan(key=key, is_time_out=True, second=seconds, count=count, action="record",
                params=params)


async def test_fires_on_the_due_second_never_before(start, action, clock):
    service = await start()
    plans = [await service.create(delay_plan(f"p{i}", seconds=1 + i % 2)) for i in range(6)]
    await clock.wait_for(lambda: len(action.attempts) == 6, 5)
    for plan in plans:
        (key, ts, wall, _), = [a for a in action.attempts if a[0] == plan.key]
        assert ts == plan.next_time
        assert ts <= wall < ts + 0.3, f"{key} due {ts} fired at {wall:.3f}"


async def test_count_then_removed(start, action, store, clock):
    service = await start()
    plan = await service.create(delay_plan("three", count=3))
    await clock.wait_for(lambda: len(action.fired("three")) == 3, 6)
    fired = action.fired("three")
    assert fired == [plan.next_time, plan.next_time + 1, plan.next_time + 2]
    await clock.wait_for(lambda: "three" not in store._plans, 2)
    with pytest.raises(ForsunPlanError) as info:
        await service.get("three")
    assert info.value.code == ErrorCode.NOT_FOUND
    await clock.advance(1.2)
    assert len(action.fired("three")) == 3


async def test_status_expried_keeps_the_last_state(start, action, clock):
    """A finished plan stays readable for status_expried seconds with the original's
    status of its last action: 1 succeeded, -1 failed (2 while it runs; -1 while a retry
    is pending, as the original)."""
    service = await start(status_expried=2, retry_max_count=1)
    await service.create(delay_plan("once"))
    await service.create(delay_plan("slow", sleep="0.5"))
    await service.create(delay_plan("refused", mode="fail"))
    await service.create(delay_plan("flaky", mode="retry"))
    await clock.wait_for(lambda: action.fired("once"), 3)
    await clock.advance(0.2)
    kept = await service.get("once")
    assert kept.status == STATUS_SUCCEEDED and kept.current_count == 1
    assert (await service.get("slow")).status == STATUS_FINISHED
    assert (await service.get("refused")).status == STATUS_FAILED
    assert (await service.get("flaky")).status == STATUS_FAILED  # a retry is pending
    await clock.advance(0.5)
    assert (await service.get("slow")).status == STATUS_SUCCEEDED
    await clock.wait_for(lambda: len(action.params_of("flaky")) == 2, 2)
    await clock.advance(0.1)
    assert (await service.get("flaky")).status == STATUS_FAILED
    await clock.advance(3)
    for key in ("once", "slow", "refused", "flaky"):
        with pytest.raises(ForsunPlanError):
            await service.get(key)
    assert len(action.fired("once")) == 1 and len(action.params_of("flaky")) == 2


async def test_a_repeating_plan_keeps_no_status(start, action, store, clock):
    """Only a plan's last occurrence records its outcome (no store write per firing)."""
    service = await start(status_expried=2)
    await service.create(delay_plan("again", count=3, mode="fail"))
    await clock.wait_for(lambda: len(action.fired("again")) == 2, 4)
    await clock.advance(0.2)
    assert (await service.get("again")).status == 0
    await clock.wait_for(lambda: len(action.fired("again")) == 3, 2)
    await clock.advance(0.2)
    assert (await service.get("again")).status == STATUS_FAILED


async def test_fixed_time_plan_fires_each_matching_second(start, action, clock):
    service = await start()
    plan = await service.create(Plan(key="every", second=-1, action="record"))
    await clock.wait_for(lambda: len(action.fired("every")) >= 3, 5)
    fired = action.fired("every")[:3]
    assert fired == [plan.next_time, plan.next_time + 1, plan.next_time + 2]


def test_retry_delays_are_the_originals_by_default():
    """Retry n comes retry_delay_seconds * (1 + retry_delay_rate * n) s after a failure."""
    settings = EngineSettings.from_options(make_options())
    assert [settings.retry_delay_of(n) for n in (1, 2, 3)] == [6, 9, 12]
    assert settings.retry_max == 3


async def test_retries_grow_and_give_up(start, action, store, clock):
    service = await start(retry_delay_seconds=0.2, retry_delay_rate=2, retry_max_count=2)
    await service.create(delay_plan("flaky", mode="retry"))
    await clock.wait_for(lambda: len([a for a in action.attempts if a[0] == "flaky"]) == 3, 5)
    walls = [wall for key, _, wall, _ in action.attempts if key == "flaky"]
    assert walls[1] - walls[0] == pytest.approx(0.2 * (1 + 2 * 1), abs=0.05)
    assert walls[2] - walls[1] == pytest.approx(0.2 * (1 + 2 * 2), abs=0.05)
    await clock.advance(1.0)
    assert len([a for a in action.attempts if a[0] == "flaky"]) == 3
    counters = service.stats.counters
    assert counters["action_retried_count"] == 2 and counters["action_executed_error_count"] == 1
    assert not store._leases


async def test_failure_without_retry_is_not_retried(start, action, clock):
    service = await start()
    await service.create(delay_plan("refused", mode="fail"))
    await clock.wait_for(lambda: action.fired("refused"), 3)
    await clock.advance(0.6)
    assert len([a for a in action.attempts if a[0] == "refused"]) == 1
    assert service.stats.counters["action_executed_error_count"] == 1


async def test_a_pending_retry_does_not_delay_the_next_occurrence(start, action, clock):
    service = await start(retry_delay_seconds=5)
    plan = await service.create(delay_plan("steady", count=3, mode="retry"))
    await clock.wait_for(lambda: len(action.fired("steady")) == 3, 6)
    for occurrence, ts in enumerate(action.fired("steady")):
        assert ts == plan.next_time + occurrence
        wall = next(w for k, t, w, a in action.attempts if k == "steady" and t == ts and a == 0)
        assert wall < ts + 0.3


async def test_timeout_cancels_and_retries(start, action, clock):
    service = await start(action_timeout=0.3, retry_max_count=1)
    await service.create(delay_plan("slow", sleep="5"))
    await clock.wait_for(lambda: len([a for a in action.attempts if a[0] == "slow"]) == 2, 5)
    await clock.wait_for(lambda: service.stats.counters["action_executed_error_count"] == 1, 2)
    assert service.stats.counters["action_timeout_count"] == 2


async def test_slow_actions_never_delay_the_next_second(start, action, clock):
    service = await start()
    base = int(clock.now()) + 2
    slow = [Plan(key=f"slow{i}", second=base % 60, minute=base // 60 % 60,
                 hour=base // 3600 % 24, action="record", params={"sleep": "2"})
            for i in range(1000)]
    nxt = base + 1
    fast = [Plan(key=f"fast{i}", second=nxt % 60, minute=nxt // 60 % 60,
                 hour=nxt // 3600 % 24, action="record") for i in range(10)]
    await service.create_many(slow + fast)
    await clock.wait_for(lambda: len(action.attempts) == 1010, 6)
    for key, ts, wall, _ in action.attempts:
        if key.startswith("fast"):
            assert ts == nxt and nxt <= wall < nxt + 0.3


async def test_catch_up_after_downtime_fires_each_missed_second_once(start, action, clock):
    service = await start()
    plan = await service.create(delay_plan("tick", count=0))
    await clock.wait_for(lambda: len(action.fired("tick")) >= 2, 4)
    await clock.drive(service.stop())
    await clock.advance(3)
    await start()
    await clock.wait_for(lambda: action.fired("tick")[-1] >= int(clock.now()) - 1, 3)
    fired = action.fired("tick")
    assert fired == list(range(plan.next_time, plan.next_time + len(fired)))
    assert service.stats.counters["timer_loop_count"] >= 1


async def test_clock_steps_never_fire_a_second_twice_nor_skip_one(start, action, clock):
    service = await start()
    plan = await service.create(delay_plan("steps", count=0))
    await clock.wait_for(lambda: len(action.fired("steps")) >= 2, 4)
    clock.step(-3.0)
    await clock.advance(2.5)
    clock.step(7.0)
    await clock.advance(1.5)
    fired = action.fired("steps")
    assert len(fired) == len(set(fired))
    assert fired == list(range(plan.next_time, plan.next_time + len(fired)))
    assert fired[-1] >= int(clock.now()) - 1
    assert service.stats.counters["action_executed_count"] >= len(fired) - 1


async def test_checkpoint_is_persisted(start, store, clock):
    await start()
    await clock.advance(1.5)
    checkpoint = await store.get_checkpoint()
    now = int(clock.now())
    assert checkpoint is not None and now - 2 <= checkpoint <= now


@pytest.mark.parametrize("mode", ["PROXY", "server"])
async def test_a_node_in_another_server_mode_serves_but_fires_nothing(start, action, store,
                                                                     clock, mode):
    """As the original's SERVER_MODE: it claims, checkpoints and fires nothing, so it can
    run beside firing nodes on a shared store; TIMER (any case) fires."""
    service = await start(server_mode=mode)
    await service.create(delay_plan("served"))
    await clock.advance(3)
    await clock.drive(service.stop())
    assert action.attempts == [] and store.claims == []
    assert await store.get_checkpoint() is None
    assert (await service.get("served")).current_count == 0
    await start(server_mode="timer")
    await clock.wait_for(lambda: action.fired("served"), 3)


async def test_release_refires_occurrences_left_in_flight(start, action, store, clock):
    await store.put(Plan(key="left", is_time_out=True, second=1, count=1, action="record",
                         next_time=int(clock.now()) - 5, created_time=clock.now()))
    (claimed,) = await store.claim(int(clock.now()), node="0",
                                   lease_until=clock.now() + 600)
    await start()
    await clock.wait_for(lambda: action.fired("left"), 3)
    assert action.fired("left") == [claimed.next_time]


async def test_concurrency_is_bounded_and_overflow_queued(start, action, clock):
    service = await start(action_workers=2)
    running = 0
    peak = 0
    original = action.execute

    async def counting(firing):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await original(firing)
        finally:
            running -= 1

    action.execute = counting
    await service.create_many([delay_plan(f"q{i}", sleep="0.4") for i in range(6)])
    await clock.wait_for(lambda: len(action.attempts) == 6, 6)
    assert peak == 2
    assert service.stats.counters["action_queued_count"] == 4


REQUIRED_INFO_KEYS = (
    "python_version", "forsun_version", "start_time", "cpu_user", "cpu_system", "mem_rss",
    "mem_vms", "current_time", "stores", "current_store", "actions", "extensions", "bind_port",
    "http_bind_port", "connecting_count", "connected_count", "requesting_count",
    "requested_count", "requested_error_count", "http_connecting_count", "http_connected_count",
    "http_requesting_count", "http_requested_count", "http_requested_error_count",
    "created_count", "create_timeouted_count", "removed_count", "plan_count",
    "timeout_handling_count", "timeout_handled_count", "action_executing_count",
    "action_executed_count", "action_executed_error_count", "action_retried_count",
    "timer_loop_count", "timer_loop_ready_error_count",
)


async def test_info_has_every_key_the_original_client_prints(start, action, clock):
    service = await start()
    await service.create(delay_plan("info", seconds=60))
    info = await service.info()
    assert set(REQUIRED_INFO_KEYS) <= set(info)
    assert all(isinstance(value, str) for value in info.values())
    assert info["plan_count"] == "1" and info["create_timeouted_count"] == "1"
    assert int(info["mem_rss"]) > 0 and abs(int(info["current_time"]) - clock.now()) < 5
    assert info["actions"] == "record" and info["current_store"] == "test"
    assert info["action_plugins"].startswith("record=")


# -- claiming ahead of the boundary ------------------------------------------------------


def claims_of(store: ClaimLog, key: str) -> list[tuple[float, int]]:
    """(clock at the call, up_to) of each claim that returned ``key``."""
    return [(at, up_to) for at, up_to, keys in store.claims if key in keys]


async def wait_for_claim_ahead(clock: VirtualClock, store: ClaimLog, second: int) -> None:
    """Wait until the engine claimed for ``second`` before the clock reached it."""
    await clock.wait_for(lambda: any(up_to == second and at < second
                                     for at, up_to, _ in store.claims), 3)


async def test_claims_ahead_but_fires_only_once_the_second_has_come(start, action, store,
                                                                    clock):
    service = await start(claim_ahead=0.1)
    plans = await service.create_many([delay_plan(f"a{i}", seconds=2) for i in range(200)])
    due = plans[0].next_time
    assert all(plan.next_time == due for plan in plans)
    await clock.wait_for(lambda: len(action.attempts) == 200, 5)
    for plan in plans:
        (at, up_to), = claims_of(store, plan.key)
        assert up_to == due and due - 0.1 <= at < due, f"{plan.key} claimed at {at:.3f}"
    walls = sorted(wall for _, _, wall, _ in action.attempts)
    assert all(ts == due for _, ts, _, _ in action.attempts)
    assert due <= walls[0] and walls[-1] < due + 0.3, f"fired {walls[0]:.3f}..{walls[-1]:.3f}"
    assert service.stats.counters["claimed_ahead_count"] == 200


async def test_firings_claimed_ahead_are_prepared_before_their_second(start, action,
                                                                        clock):
    service = await start(claim_ahead=0.1)
    plans = await service.create_many([delay_plan(f"r{i}", seconds=2, n=str(i),
                                                  mode="unprepared" if i == 0 else "ok")
                                       for i in range(50)])
    due = plans[0].next_time
    await clock.wait_for(lambda: len(action.attempts) == 50, 5)
    prepared = {params["n"]: wall for params, wall in action.prepared}
    assert sorted(prepared, key=int) == [str(i) for i in range(50)]
    assert all(due - 0.1 <= wall < due for wall in prepared.values()), prepared
    assert min(wall for _, _, wall, _ in action.attempts) >= due
    assert action.fired("r0") == [due]  # a failing prepare does not keep it from firing


async def test_a_plan_created_during_the_claim_ahead_window_fires_once(start, action, store,
                                                                       clock):
    service = await start(claim_ahead=0.5)
    first = await service.create(delay_plan("before", seconds=2))
    due = first.next_time
    await wait_for_claim_ahead(clock, store, due)
    during = await service.create(delay_plan("during"))
    assert during.created_time < due and during.next_time == due
    await clock.wait_for(lambda: action.fired("during") and action.fired("before"), 3)
    await clock.advance(1.2)
    assert action.fired("before") == [due] and action.fired("during") == [due]
    (at, up_to), = claims_of(store, "during")
    assert up_to == due and at >= due, "not claimed by the claim at the boundary"
    for key in ("before", "during"):
        (wall,) = [w for k, _, w, _ in action.attempts if k == key]
        assert due <= wall < due + 0.3, f"{key} fired at {wall:.3f}"


async def test_claim_ahead_0_claims_at_the_boundary(start, action, store, clock):
    service = await start(claim_ahead=0)
    plans = await service.create_many([delay_plan(f"z{i}", seconds=1 + i % 2)
                                       for i in range(20)])
    await clock.wait_for(lambda: len(action.attempts) == 20, 5)
    assert store.claims and all(at >= up_to for at, up_to, _ in store.claims)
    for plan in plans:
        (_, up_to), = claims_of(store, plan.key)
        assert up_to == plan.next_time
        (wall,) = [w for k, _, w, _ in action.attempts if k == plan.key]
        assert plan.next_time <= wall < plan.next_time + 0.3
    assert "claimed_ahead_count" not in service.stats.counters


async def test_a_clock_stepped_back_while_firings_are_held(start, action, store, clock):
    """Stepped back by more than claim_ahead + 0.5 s, held firings fire at once rather than
    keep their lease while the clock comes back; stepped back by less, they wait. (Walls are
    read from the stepped clock: ``wall - offset`` is the time without the step.)"""
    service = await start(claim_ahead=0.5)

    far = await service.create(delay_plan("far", seconds=2))
    await wait_for_claim_ahead(clock, store, far.next_time)
    offset = -3.0
    clock.step(offset)
    await clock.wait_for(lambda: action.fired("far"), 2)
    (wall,) = [w for k, _, w, _ in action.attempts if k == "far"]
    assert wall - offset < far.next_time + 1, \
        "held until the stepped-back clock reached the second"
    clock.step(-offset)
    await clock.advance(1.5)

    near = await service.create(delay_plan("near", seconds=2))
    await wait_for_claim_ahead(clock, store, near.next_time)
    assert claims_of(store, "near")[0][0] < near.next_time, "not claimed ahead"
    offset = -0.3
    clock.step(offset)
    await clock.wait_for(lambda: action.fired("near"), 3)
    (wall,) = [w for k, _, w, _ in action.attempts if k == "near"]
    assert wall >= near.next_time, "fired before the stepped clock's second"
    clock.step(-offset)
    await clock.advance(1.5)
    assert action.fired("far") == [far.next_time] and action.fired("near") == [near.next_time]


async def test_stop_leaves_held_firings_in_flight_and_the_next_start_fires_them(
        start, action, store, clock):
    service = await start(claim_ahead=0.5)
    plan = await service.create(delay_plan("held", seconds=2))
    await wait_for_claim_ahead(clock, store, plan.next_time)
    assert claims_of(store, "held")
    began = clock.monotonic()
    await clock.drive(service.stop())
    assert clock.monotonic() - began < 1.0
    assert clock.now() < plan.next_time and not action.fired("held")
    assert ("held", plan.next_time) in store._leases
    await start(claim_ahead=0.5)
    await clock.wait_for(lambda: action.fired("held"), 3)
    await clock.advance(1.2)
    assert action.fired("held") == [plan.next_time]
    (wall,) = [w for k, _, w, _ in action.attempts if k == "held"]
    assert wall >= plan.next_time, "released at start, it fired before its due second"


async def test_a_plan_removed_while_held_does_not_fire(start, action, store, clock):
    service = await start(claim_ahead=0.5)
    plans = await service.create_many([delay_plan(k, seconds=2) for k in ("gone", "kept")])
    due = plans[0].next_time
    await wait_for_claim_ahead(clock, store, due)
    assert claims_of(store, "gone"), "not claimed ahead"
    await service.remove("gone")
    await clock.wait_for(lambda: action.fired("kept"), 3)
    await clock.advance(1.2)
    assert action.fired("gone") == [] and action.fired("kept") == [due]
    assert service.stats.counters["claimed_ahead_dropped_count"] == 1
    assert ("gone", due) not in store._leases, "the dropped occurrence stayed in flight"


async def test_a_plan_replaced_while_held_fires_once_with_its_new_state(start, action, store,
                                                                        clock):
    service = await start(claim_ahead=0.5)
    old = await service.create(delay_plan("swap", seconds=2, version="old"))
    await wait_for_claim_ahead(clock, store, old.next_time)
    assert claims_of(store, "swap"), "not claimed ahead"
    new = await service.create(delay_plan("swap", seconds=1, version="new"))
    assert new.next_time == old.next_time
    await clock.wait_for(lambda: action.fired("swap"), 3)
    await clock.advance(1.2)
    assert action.fired("swap") == [old.next_time]
    (version,) = [params["version"] for params in action.params_of("swap")]
    assert version == "new"


async def test_a_plan_removed_through_another_node_while_held_does_not_fire(
        start, action, store, clock):
    """The store is the only source of truth: removed in the store itself, as another node
    sharing it would, after its occurrence was claimed ahead, a plan does not fire."""
    service = await start(claim_ahead=0.5)
    plan = await service.create(delay_plan("elsewhere", seconds=2, count=2))
    due = plan.next_time
    await wait_for_claim_ahead(clock, store, due)
    assert claims_of(store, "elsewhere"), "not claimed ahead"
    await store.remove("elsewhere")
    await clock.advance(due - clock.now() + 3.2)
    assert action.fired("elsewhere") == []
    assert service.stats.counters["claimed_ahead_dropped_count"] == 1
    assert ("elsewhere", due) not in store._leases, "the dropped occurrence stayed in flight"


async def test_a_plan_replaced_through_another_node_while_held_fires_its_new_state(
        start, action, store, clock):
    service = await start(claim_ahead=0.5)
    old = await service.create(delay_plan("swap", seconds=2, version="old"))
    await wait_for_claim_ahead(clock, store, old.next_time)
    assert claims_of(store, "swap"), "not claimed ahead"
    await store.put(attrs.evolve(old, params={"version": "new"}, created_time=clock.now()))
    await clock.advance(old.next_time - clock.now() + 1.2)
    assert action.fired("swap") == [old.next_time]
    assert [params["version"] for params in action.params_of("swap")] == ["new"]


async def test_a_store_that_does_not_report_fires_a_plan_removed_while_held_as_claimed(
        start, action, store, clock):
    """``reschedule_many`` returning None (a store written before it reported anything)
    counts every plan as still claimed (see forsun.store.base)."""
    rescheduled = store.reschedule_many

    async def reporting_nothing(pairs):
        await rescheduled(pairs)

    store.reschedule_many = reporting_nothing
    service = await start(claim_ahead=0.5)
    plan = await service.create(delay_plan("unreported", seconds=2))
    await wait_for_claim_ahead(clock, store, plan.next_time)
    await service.remove("unreported")
    await clock.advance(plan.next_time - clock.now() + 1.2)
    assert action.fired("unreported") == [plan.next_time]
    assert ("unreported", plan.next_time) not in store._leases


async def test_a_one_shot_plan_held_is_still_readable_and_removable(start, action, store,
                                                                    clock):
    """A one-shot plan leaves the store when its last occurrence is rescheduled; claimed
    ahead, it must still read and remove as a plan until its due second."""
    service = await start(claim_ahead=0.5)
    plan = await service.create(delay_plan("once", seconds=2))
    await wait_for_claim_ahead(clock, store, plan.next_time)
    assert (await service.get("once")).next_time == plan.next_time
    assert (await service.remove("once")).key == "once"
    with pytest.raises(ForsunPlanError):
        await service.remove("once")
    await clock.advance(plan.next_time - clock.now() + 1.0)
    assert action.fired("once") == []


async def test_a_plan_claimed_ahead_while_its_create_waits_for_the_store_fires(
        start, action, store, clock):
    """The claim ahead may take a new plan between its store write and the end of the
    create (an fsync): that occurrence is the new state's own and must not be dropped."""
    service = await start(claim_ahead=0.5)
    store.put_delay = 0.3
    due = math.floor(clock.now()) + 2
    await clock.advance(due - 0.6 - clock.now())
    plan = await clock.drive(service.create(delay_plan("racy")))
    assert plan.next_time == due
    assert claims_of(store, "racy") and claims_of(store, "racy")[0][0] < due, \
        "not claimed ahead during the create"
    await clock.wait_for(lambda: action.fired("racy"), 3)
    assert action.fired("racy") == [due]


async def test_claims_taken_over_are_dropped_unless_running(start, action, store, clock):
    store.heartbeat_interval, store.node_lease = 0.2, 60.0
    service = await start(action_workers=1)
    await service.create_many([delay_plan(key, sleep="1.5") for key in ("a", "b", "c")])
    await clock.wait_for(lambda: action.attempts, 3)  # one runs, two wait in the queue
    await store.heartbeat(service.node_id, clock.now() - 1)  # silent, as after a stall
    taken = await store.claim(int(clock.now()), node="other", lease_until=clock.now() + 60)
    assert sorted(plan.key for plan in taken) == ["a", "b", "c"]
    await clock.wait_for(lambda: service.stats.counters["claims_lost_count"], 2)
    await service.create(delay_plan("after"))
    await clock.wait_for(lambda: action.fired("after"), 4)
    await clock.advance(1.5)  # the running action has finished
    assert [key for key, *_ in action.attempts] == [action.attempts[0][0], "after"], (
        "an occurrence taken over before it started was fired")
    assert service.stats.counters["claims_lost_dropped_count"] == 2
    await store.release("other")  # what "other" holds: the two this node dropped, not acked
    left = await store.claim(int(clock.now()), node="other", lease_until=clock.now() + 60)
    assert sorted(plan.key for plan in left) == sorted({"a", "b", "c"} - {action.attempts[0][0]})


class KeepsFailures(ClaimLog):
    """:class:`ClaimLog` with a failures list, recording failures and acks in order."""

    capabilities = frozenset({*ClaimLog.capabilities, FAILURES})

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock)
        self.failures = FailureList(10)
        self.events: list[tuple[str, str]] = []

    async def ack(self, claimed: Plan) -> None:
        self.events.append(("ack", claimed.key))
        await super().ack(claimed)

    async def add_failure(self, failure) -> None:
        self.events.append(("failure", failure.key))
        self.failures.add(failure)

    async def list_failures(self, **filters):
        return self.failures.page(**filters)

    async def get_failures(self, ids):
        return self.failures.get(ids)

    async def remove_failures(self, ids):
        self.events.append(("removed", ",".join(ids or ["all"])))
        return self.failures.remove(ids)


class TestFailuresAndOutcomes:
    @pytest.fixture
    def store(self, clock):
        return KeepsFailures(clock)

    async def test_a_given_up_occurrence_goes_to_failures_before_its_ack(
            self, start, action, store, clock):
        service = await start(retry_max_count=2)
        plan = await service.create(delay_plan("doomed", mode="retry"))
        await clock.wait_for(lambda: ("ack", "doomed") in store.events, 5)
        assert store.events == [("failure", "doomed"), ("ack", "doomed")]
        [failure] = store.failures.get(None)
        assert (failure.id, failure.attempts, failure.action) == (
            f"{plan.next_time}:doomed", 3, "record")
        assert failure.error == "target asked for a retry"
        assert failure.plan.key == "doomed" and failure.node == service.node_id
        outcomes = service.history.recent("doomed")
        assert [(o.attempt, o.ok, o.final) for o in outcomes] == [
            (2, False, True), (1, False, False), (0, False, False)]
        assert all(o.due == plan.next_time for o in outcomes)

    async def test_retrying_a_failure_fires_it_and_removes_it_once_it_succeeds(
            self, start, action, store, clock):
        service = await start(retry_max_count=0)
        plan = await service.create(delay_plan("mended", mode="fail"))
        await clock.wait_for(lambda: len(store.failures) == 1, 5)
        action.healed.add("mended")
        assert await service.insight.retry(None) == 1
        await clock.wait_for(lambda: not len(store.failures), 2)
        assert action.attempts[-1][:2] == ("mended", plan.next_time)
        assert store.events.count(("ack", "mended")) == 1, "a manual firing was acked"
        newest = service.history.recent("mended")[0]
        assert (newest.ok, newest.manual, newest.due) == (True, True, plan.next_time)

    async def test_fire_now_fires_once_and_keeps_the_schedule(self, start, action, store,
                                                            clock):
        service = await start()
        plan = await service.create(delay_plan("later", seconds=600))
        await service.insight.fire("later")
        await clock.wait_for(lambda: action.attempts, 1)
        assert [a[0] for a in action.attempts] == ["later"]
        assert (await service.get("later")).next_time == plan.next_time
        assert not [event for event in store.events if event[0] == "ack"]


class AckTimes(ClaimLog):
    """:class:`ClaimLog` recording the clock at each ack, by key."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock)
        self.acked: dict[str, float] = {}

    async def ack(self, claimed: Plan) -> None:
        self.acked[claimed.key] = self.clock()
        await super().ack(claimed)


class TestAcks:
    @pytest.fixture
    def store(self, clock):
        return AckTimes(clock)

    async def test_acks_wait_until_no_action_runs(self, start, action, store, clock):
        """Writing acks never competes with the requests of a burst still going out: a
        finished occurrence is acked once no action runs."""
        service = await start()
        await service.create(delay_plan("quick"))
        await service.create(delay_plan("slow", sleep="0.1"))
        await clock.wait_for(lambda: "slow" in store.acked, 3)
        (_, _, fired, _), = [a for a in action.attempts if a[0] == "quick"]
        assert store.acked["quick"] >= fired + 0.1, "acked while an action still ran"
        assert store.acked["quick"] == store.acked["slow"]

    async def test_a_long_action_delays_the_others_acks_by_ack_delay_at_most(
            self, start, action, store, clock):
        from forsun.engine.workers import ACK_DELAY, ACK_POLL

        service = await start()
        await service.create(delay_plan("quick"))
        await service.create(delay_plan("slow", sleep="5"))
        await clock.wait_for(lambda: "quick" in store.acked, 3)
        (_, _, fired, _), = [a for a in action.attempts if a[0] == "quick"]
        assert fired + ACK_DELAY <= store.acked["quick"] <= fired + ACK_DELAY + ACK_POLL
        assert "slow" not in store.acked
        await clock.wait_for(lambda: "slow" in store.acked, 6)

    async def test_bulk_work_and_collections_wait_for_the_burst_to_end(
            self, start, action, store, clock):
        """From a boundary until its firings have ended no bulk slice runs and no automatic
        collection traverses their live tasks; then both go on."""
        assert gc.isenabled()
        service = await start()
        await service.create(delay_plan("slow", sleep="0.1"))
        await clock.wait_for(lambda: action.fired("slow"), 3)
        assert not gc.isenabled() and service.pacer.held
        await clock.wait_for(lambda: "slow" in store.acked, 3)
        assert gc.isenabled() and not service.pacer.held
