"""``StoreConformance``: the store contract of :mod:`forsun.store.base` as tests.

A store plugin subclasses it once and overrides the ``store_factory`` fixture::

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store_factory(self, tmp_path):
            return StoreFactory("my_store.store:MyStore", {"driver_my_file": str(tmp_path / "db")})

Each test gets fresh, empty data from its factory. Tests that need a capability
(``durable``, ``persistent``, ``multi_node``, ``inline``) are skipped when the store does
not declare it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs
import pytest
import pytest_asyncio

from ..errors import ErrorCode, ForsunPlanError
from ..plan import STATUS_EXECUTING, STATUS_FAILED, STATUS_WAITING, Plan
from ..store.base import DURABLE, FAILURES, HEARTBEAT, INLINE, MULTI_NODE, PERSISTENT, Store
from ..store.failures import Failure
from .crashchild import crash_index, crash_plan
from .factory import StoreFactory
from .fixtures import BASE_SECOND as T
from .fixtures import build_plan

F = TypeVar("F", bound=Callable[..., Any])


def requires(*capabilities: str) -> Callable[[F], F]:
    """Run the decorated test only on stores declaring every one of ``capabilities``."""

    def mark(test: F) -> F:
        test.__forsun_requires__ = frozenset(capabilities)  # type: ignore[attr-defined]
        return test

    return mark


def leased() -> float:
    """A lease that stays valid for the whole test."""
    return time.time() + 600


def expired() -> float:
    """A lease that has already run out."""
    return time.time() - 60


def in_order(plans: Iterable[Plan]) -> list[Plan]:
    return sorted(plans, key=lambda plan: (plan.next_time, plan.key))


def occurrences(plans: Iterable[Plan]) -> list[tuple[str, int]]:
    return [plan.occurrence() for plan in plans]


async def expect_error(code: int, awaitable: Any) -> ForsunPlanError:
    with pytest.raises(ForsunPlanError) as caught:
        await awaitable
    assert caught.value.code == code, f"expected error {code}, got {caught.value}"
    return caught.value


async def claim_until_dry(store: Store, up_to: int, node: str, most: int) -> list[Plan]:
    """Claim in small batches until nothing is left (or, from a broken store, more than
    ``most`` plans came back)."""
    taken: list[Plan] = []
    while len(taken) <= most:
        batch = await store.claim(up_to, node=node, lease_until=leased(), limit=5)
        if not batch:
            break
        taken += batch
        await asyncio.sleep(0)
    return taken


def build_failure(key: str, due: int = T, *, failed_at: float = T + 30.0,
                  action: str = "shell", error: str = "exit status 1") -> Failure:
    """A failure of occurrence ``(key, due)`` after 4 attempts, on node ``n1``."""
    return Failure(key, due, action, 4, error, failed_at, "n1",
                   build_plan(key, due, action=action))


def ids(failures: Iterable[Failure]) -> list[str]:
    return [failure.id for failure in failures]


class OpenStores:
    """Opens stores over the data of one :class:`StoreFactory` and closes, at teardown,
    those a test left open."""

    def __init__(self, factory: StoreFactory) -> None:
        self.factory = factory
        self._open: list[Store] = []

    async def open(self) -> Store:
        store = self.factory.build()
        await store.open()
        self._open.append(store)
        return store

    async def close(self, store: Store) -> None:
        self._open.remove(store)
        await store.close()

    async def close_all(self) -> None:
        while self._open:
            await self._open.pop().close()


#: Invalid plans: (test id, field the error must name, fields that make the plan invalid).
BAD_INPUT = [
    ("empty-key", "key", {"key": ""}),
    ("key-with-nul", "key", {"key": "bad\x00key"}),
    ("key-with-newline", "key", {"key": "bad\nkey"}),
    ("key-with-cr", "key", {"key": "bad\rkey"}),
    ("key-of-1mb", "key", {"key": "k" * (1 << 20)}),
    ("key-lone-surrogate", "key", {"key": "bad\ud800"}),
    ("param-value-int", "params", {"params": {"cmd": 5}}),
    ("param-name-int", "params", {"params": {5: "x"}}),
    ("params-not-a-map", "params", {"params": "cmd=ls"}),
    ("params-over-1mb", "params", {"params": {"blob": "x" * ((1 << 20) + 1)}}),
    ("second-60", "second", {"is_time_out": False, "second": 60}),
    ("hour-24", "hour", {"is_time_out": False, "hour": 24}),
    ("day-0", "day", {"is_time_out": False, "day": 0}),
    ("month-13", "month", {"is_time_out": False, "month": 13}),
    ("week-8", "week", {"is_time_out": False, "week": 8}),
    ("second-not-int", "second", {"second": "5"}),
    ("count-negative", "count", {"count": -1}),
    ("count-over-int16", "count", {"count": 1 << 15}),
    ("next-time-float", "next_time", {"next_time": T + 0.5}),
    ("action-empty", "action", {"action": ""}),
]


class StoreConformance:
    """The contract tests every store inherits. Override ``store_factory``; override a
    single test in your subclass only where your store must deviate, and say why there."""

    pytestmark = [pytest.mark.conformance, pytest.mark.asyncio]

    #: Plans written by the bulk test.
    bulk_size = 10_000

    # -- fixtures ------------------------------------------------------------------------

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        """Must be overridden: a :class:`StoreFactory` over fresh data for this test."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the store_factory fixture: return a "
            f"forsun.testing.StoreFactory giving an empty store for each test")

    @pytest_asyncio.fixture
    async def stores(self, request: pytest.FixtureRequest, store_factory: StoreFactory):
        """Opens more stores over the test's data (``await stores.open()``)."""
        needed = getattr(request.function, "__forsun_requires__", frozenset())
        missing = needed - store_factory.build().capabilities
        if missing:
            pytest.skip(f"the store does not declare {', '.join(sorted(missing))}")
        opened = OpenStores(store_factory)
        yield opened
        await opened.close_all()

    @pytest_asyncio.fixture
    async def store(self, stores: OpenStores) -> Store:
        """The store under test, opened over empty data (closed after the test)."""
        store = await stores.open()
        if await store.count():
            pytest.fail("store_factory gave a store that already holds plans: each test "
                        "needs fresh data", pytrace=False)
        return store

    # -- put, get, remove ------------------------------------------------------------------

    async def test_put_then_get_round_trips_every_field(self, store: Store) -> None:
        plan = Plan(key="round/trip", second=7, minute=30, hour=16, day=-1, month=12, week=-1,
                    is_time_out=False, count=3, current_count=1, status=1, next_time=T + 42,
                    last_timeout=T - 18, created_time=T - 100.125, action="http",
                    params={"url": "http://127.0.0.1/x?a=1&b=2", "body": "", "note": "é ✓ 🎉"})
        await store.put(plan)
        assert await store.get("round/trip") == plan

    async def test_a_finished_plans_status_round_trips(self, store: Store) -> None:
        """A finished plan kept for status_expried whose last action failed is -1."""
        plan = build_plan("failed", T + 5, count=1, current_count=1, status=STATUS_FAILED)
        await store.put(plan)
        assert await store.get("failed") == plan
        assert await store.claim(T + 5, node="n1", lease_until=leased()) == [plan]

    async def test_put_replaces_by_key(self, store: Store) -> None:
        await store.put(build_plan("k", T, params={"v": "1"}))
        replacement = build_plan("k", T + 5, params={"v": "2"}, created_time=T + 1.5)
        await store.put(replacement)
        assert await store.get("k") == replacement
        assert await store.keys() == ["k"]
        assert await store.count() == 1
        assert await store.due(T, T) == [], "the replaced plan is still indexed at its old time"
        assert await store.due(T + 5, T + 5) == [replacement]

    async def test_put_many_writes_in_order_and_the_last_write_wins(self, store: Store) -> None:
        """A bulk creation stores its slices with consecutive ``put_many`` calls, other
        writes in between (see the store contract)."""
        await store.put_many([build_plan("a", T, params={"v": "1"}), build_plan("b", T),
                              build_plan("a", T + 1, params={"v": "2"})])
        await store.put(build_plan("b", T + 2, params={"v": "single"}))
        await store.put(build_plan("c", T + 2, params={"v": "single"}))
        last = [build_plan("c", T - 1), build_plan("b", T + 3, params={"v": "3"})]
        await store.put_many(last)
        assert (await store.get("a")).params == {"v": "2"}
        assert await store.get("b") == last[1]
        assert await store.get("c") == last[0]
        assert occurrences(await store.due(T - 10, T + 10)) == [
            ("c", T - 1), ("a", T + 1), ("b", T + 3)]

    async def test_get_missing_key_raises_1003(self, store: Store) -> None:
        await store.put(build_plan("present"))
        error = await expect_error(ErrorCode.NOT_FOUND, store.get("absent"))
        assert "absent" in error.message

    async def test_existing_names_the_stored_keys_only(self, store: Store) -> None:
        await store.put_many([build_plan("a", T), build_plan("b/é", T)])
        await store.remove("a")
        assert await store.existing(["a", "b/é", "c", "b"]) == {"b/é"}
        assert await store.existing([]) == set()

    async def test_remove_returns_the_plan_and_forgets_it(self, store: Store) -> None:
        plan, other = build_plan("gone", T), build_plan("kept", T)
        await store.put_many([plan, other])
        assert await store.remove("gone") == plan
        await expect_error(ErrorCode.NOT_FOUND, store.get("gone"))
        assert await store.keys() == ["kept"]
        assert await store.count() == 1
        assert await store.due(T, T) == [other]
        assert await store.claim(T, node="n1", lease_until=leased()) == [other]

    async def test_remove_missing_key_raises_1003(self, store: Store) -> None:
        await store.put(build_plan("present"))
        error = await expect_error(ErrorCode.NOT_FOUND, store.remove("absent"))
        assert "absent" in error.message
        assert await store.keys() == ["present"]

    async def test_count_follows_puts_and_removes(self, store: Store) -> None:
        assert await store.count() == 0
        await store.put_many([build_plan(f"c{i}") for i in range(5)])
        await store.put(build_plan("c0", T + 1))
        await store.remove("c1")
        assert await store.count() == 4

    # -- keys ------------------------------------------------------------------------------

    async def test_keys_are_sorted_and_filtered_by_prefix(self, store: Store) -> None:
        keys = ["user:2", "user:10", "user:1", "order:1", "use", "User:3", "users"]
        await store.put_many([build_plan(key) for key in keys])
        assert await store.keys("user:") == ["user:1", "user:10", "user:2"]
        assert await store.keys("user") == ["user:1", "user:10", "user:2", "users"]
        assert await store.keys("nothing") == []

    async def test_keys_with_empty_prefix_lists_everything(self, store: Store) -> None:
        keys = [f"k{i:03d}" for i in range(50)] + ["a", "z", "M"]
        await store.put_many([build_plan(key) for key in keys])
        assert await store.keys("") == sorted(keys)
        assert await store.keys() == sorted(keys)

    @pytest.mark.parametrize("meta", [".", "*", "?", "[", "]", "^", "$", "\\", "%", "_", "(",
                                      "+", "{", "|", "-", ":"])
    async def test_keys_prefix_is_literal_text(self, store: Store, meta: str) -> None:
        matching = [f"a{meta}1", f"a{meta}2"]
        others = ["aX1", "ab", "a", "b", "zz", "Aa"]
        await store.put_many([build_plan(key) for key in matching + others + [meta]])
        assert await store.keys(f"a{meta}") == matching
        assert await store.keys(meta) == [meta]

    async def test_unicode_keys_round_trip_and_match_prefixes(self, store: Store) -> None:
        keys = ["日本/東京", "日本/大阪", "日本語", "emoji/🎉", "emoji/😀", "Ünïcode", "é", "e"]
        await store.put_many([build_plan(key, params={"key": key}) for key in keys])
        assert await store.keys("日本/") == sorted(["日本/東京", "日本/大阪"])
        assert await store.keys("日本") == sorted(["日本/東京", "日本/大阪", "日本語"])
        assert await store.keys("emoji/") == sorted(["emoji/🎉", "emoji/😀"])
        assert await store.keys() == sorted(keys)
        for key in keys:
            assert (await store.get(key)).params == {"key": key}

    async def test_plan_pages_read_every_plan_of_a_prefix_in_key_order(
            self, store: Store) -> None:
        wanted = [build_plan(f"p:{i:04d}", params={"n": str(i)}) for i in range(25)]
        await store.put_many([*wanted, build_plan("p"), build_plan("q:1"), build_plan("o")])
        pages = [page async for page in store.plan_pages("p:", size=10)]
        assert [len(page) for page in pages] == [10, 10, 5]
        assert [plan for page in pages for plan in page] == wanted
        assert [p.key for page in [p async for p in store.plan_pages("", size=7)]
                for p in page] == sorted(["o", "p", "q:1", *(p.key for p in wanted)])
        assert [page async for page in store.plan_pages("nothing")] == []

    async def test_plan_pages_of_one_plan_each_resume_after_keys_that_extend_others(
            self, store: Store) -> None:
        keys = ["x", "x\x01", "x\x01\x01", "x ", "xé", "x:1", "xa", "xa\x7f"]
        await store.put_many([build_plan(key) for key in keys])
        pages = [page async for page in store.plan_pages("x", size=1)]
        assert [[plan.key for plan in page] for page in pages] == [[k] for k in sorted(keys)]

    # -- due ---------------------------------------------------------------------------

    async def test_due_in_one_second_in_key_order(self, store: Store) -> None:
        await store.put_many([build_plan("b", T), build_plan("early", T - 1),
                              build_plan("a", T), build_plan("late", T + 1)])
        assert [plan.key for plan in await store.due(T, T)] == ["a", "b"]
        assert await store.due(T + 2, T + 100) == []

    async def test_due_over_a_range_in_due_order(self, store: Store) -> None:
        plans = [build_plan(f"p{i:02d}", T + (i * 7) % 23 - 5) for i in range(40)]
        await store.put_many(plans)
        window = [plan for plan in plans if T <= plan.next_time <= T + 9]
        assert {T, T + 9} <= {plan.next_time for plan in window}, "bounds not exercised"
        assert await store.due(T, T + 9) == in_order(window)
        assert await store.due(T - 100, T + 100) == in_order(plans)

    async def test_due_changes_nothing(self, store: Store) -> None:
        plans = [build_plan(f"d{i}", T) for i in range(3)]
        await store.put_many(plans)
        await store.due(T, T)
        assert await store.due(T, T) == plans
        assert await store.claim(T, node="n1", lease_until=leased()) == plans

    # -- checkpoint --------------------------------------------------------------------

    async def test_checkpoint_starts_empty_and_never_moves_backwards(self, store: Store) -> None:
        assert await store.get_checkpoint() is None
        await store.set_checkpoint(T)
        assert await store.get_checkpoint() == T
        await store.set_checkpoint(T - 10)
        assert await store.get_checkpoint() == T
        await store.set_checkpoint(T + 3)
        assert await store.get_checkpoint() == T + 3

    # -- inline ------------------------------------------------------------------------

    @requires(INLINE)
    async def test_inline_methods_run_outside_a_task(self, store: Store) -> None:
        """An ``inline`` store's methods may be started from a callback, as the Thrift front
        end does: run there, every step before a suspension has no current task."""
        plan = build_plan("inline", T)
        loop = asyncio.get_running_loop()
        results: list[Any] = []

        async def calls() -> None:
            await store.put(plan)
            results.append(await store.get("inline"))
            results.append(await store.keys(""))
            results.append(await store.remove("inline"))

        done = loop.create_future()
        coro = calls()

        def step() -> None:  # what a protocol callback does: no task around the coroutine
            try:
                yielded = coro.send(None)
            except StopIteration:
                done.set_result(None)
            except BaseException as exc:
                done.set_exception(exc)
            else:
                yielded.add_done_callback(lambda _: loop.call_soon(step))

        loop.call_soon(step)
        await asyncio.wait_for(done, 10)
        assert results == [plan, ["inline"], plan]

    # -- persistence -------------------------------------------------------------------

    @requires(PERSISTENT)
    async def test_data_survives_close_and_reopen(self, store: Store,
                                                  stores: OpenStores) -> None:
        first, second = build_plan("a", T + 1), build_plan("b", T, params={"v": "1"})
        await store.put_many([first, second, build_plan("c", T)])
        second = build_plan("b", T + 2, params={"v": "2"})
        await store.put(second)
        await store.remove("c")
        await store.set_checkpoint(T + 7)
        await stores.close(store)
        reopened = await stores.open()
        assert await reopened.keys() == ["a", "b"]
        assert await reopened.get("b") == second
        assert await reopened.count() == 2
        assert await reopened.due(T, T + 10) == [first, second]
        assert await reopened.get_checkpoint() == T + 7
        await reopened.set_checkpoint(T + 1)
        assert await reopened.get_checkpoint() == T + 7

    @requires(PERSISTENT)
    async def test_in_flight_occurrences_survive_close_and_reopen(
            self, store: Store, stores: OpenStores) -> None:
        plan = build_plan("inflight", T)
        await store.put(plan)
        [claimed] = await store.claim(T, node="n1", lease_until=leased())
        successor = attrs.evolve(claimed, next_time=T + 10, current_count=1, last_timeout=T)
        await store.reschedule(claimed, successor)
        await stores.close(store)
        reopened = await stores.open()
        assert await reopened.claim(T, node="n1", lease_until=leased()) == []
        await reopened.release("n1")
        assert await reopened.claim(T, node="n1", lease_until=leased()) == [plan], (
            "an unacknowledged occurrence was lost on reopen: it would never fire")
        assert await reopened.get("inflight") == successor

    @requires(DURABLE)
    async def test_acknowledged_writes_survive_sigkill(self, stores: OpenStores,
                                                        store_factory: StoreFactory) -> None:
        seed = random.randrange(1 << 32)
        acked, checkpoint = await self._kill_crash_child(store_factory, random.Random(seed))
        store = await stores.open()
        context = f"(seed {seed}, {len(acked)} acknowledged)"
        for key in acked:
            assert await store.get(key) == crash_plan(crash_index(key)), f"{key} {context}"
        assert (await store.get_checkpoint() or 0) >= checkpoint, f"checkpoint {context}"
        stored = await store.keys("crash/")
        assert set(acked) <= set(stored), f"acknowledged keys lost {context}"
        for key in set(stored) - set(acked):  # written, killed before the ack was printed
            assert crash_index(key) < len(acked) + 3, f"unexpected {key} {context}"
            assert await store.get(key) == crash_plan(crash_index(key)), f"torn {key} {context}"
        await store.put(build_plan("after-crash"))
        assert (await store.get("after-crash")).key == "after-crash"

    async def _kill_crash_child(self, factory: StoreFactory,
                                rng: random.Random) -> tuple[list[str], int]:
        """Run :mod:`forsun.testing.crashchild`, SIGKILL it at a random moment after its
        first acknowledgements; return the keys and the checkpoint it acknowledged."""
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, sys.path)))
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "forsun.testing.crashchild", factory.to_json(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        acked: list[str] = []
        checkpoint = 0
        enough = asyncio.Event()
        min_acks = rng.randint(1, 200)

        async def read() -> None:
            nonlocal checkpoint
            assert child.stdout is not None
            async for raw in child.stdout:
                if not raw.endswith(b"\n"):
                    break
                word, _, value = raw.decode().strip().partition(" ")
                if word == "ack":
                    acked.append(value)
                elif word == "checkpoint":
                    checkpoint = int(value)
                if len(acked) >= min_acks:
                    enough.set()

        reader = asyncio.create_task(read())
        waiter = asyncio.create_task(enough.wait())
        try:
            async with asyncio.timeout(60):
                await asyncio.wait([reader, waiter], return_when=asyncio.FIRST_COMPLETED)
                if not enough.is_set():
                    assert child.stderr is not None
                    stderr = (await child.stderr.read()).decode(errors="replace")
                    pytest.fail(f"the crash child exited before {min_acks} acks:\n{stderr}")
                await asyncio.sleep(rng.uniform(0, 0.2))
        finally:
            waiter.cancel()
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()
        await reader
        return acked, checkpoint

    # -- bad input ---------------------------------------------------------------------

    @pytest.mark.parametrize(("field", "fields"), [case[1:] for case in BAD_INPUT],
                             ids=[case[0] for case in BAD_INPUT])
    async def test_bad_input_is_rejected_with_1004_and_changes_nothing(
            self, store: Store, field: str, fields: dict[str, Any]) -> None:
        kept = build_plan("keep", T, params={"v": "kept"})
        await store.put(kept)
        bad = attrs.evolve(build_plan("keep", T + 1), **fields)
        error = await expect_error(ErrorCode.STORE_FAILED, store.put(bad))
        assert field in error.message, f"the error does not name {field!r}: {error}"
        error = await expect_error(ErrorCode.STORE_FAILED,
                                   store.put_many([build_plan("fresh", T), bad]))
        assert field in error.message, f"the error does not name {field!r}: {error}"
        assert await store.get("keep") == kept
        assert await store.keys() == ["keep"]
        assert await store.due(T - 10, T + 10) == [kept]

    # -- size and volume ---------------------------------------------------------------

    async def test_large_param_values_round_trip(self, store: Store) -> None:
        params = {"blob": "v" * 200_000, "unicode": "ü✓" * 50_000, "empty": "",
                  "lines": "a\nb\r\n\x00c"}
        await store.put(build_plan("large", params=params))
        assert (await store.get("large")).params == params
        [due] = await store.due(T, T)
        assert due.params == params

    async def test_a_thousand_keys_round_trip(self, store: Store) -> None:
        plans = [build_plan(f"many/{i:04d}", T + i % 17, params={"i": str(i), "pad": "x" * i})
                 for i in range(1000)]
        for plan in plans:
            await store.put(plan)
        assert await store.keys("many/") == [plan.key for plan in plans]
        assert await asyncio.gather(*(store.get(plan.key) for plan in plans)) == plans

    async def test_bulk_put_many_and_read_back(self, store: Store) -> None:
        plans = [build_plan(f"bulk/{i:05d}", T + i % 100, params={"i": str(i)})
                 for i in range(self.bulk_size)]
        await store.put_many(plans)
        assert await store.count() == self.bulk_size
        assert await store.keys("bulk/") == [plan.key for plan in plans]
        assert await store.due(T, T + 99) == in_order(plans)
        assert await store.get(plans[-1].key) == plans[-1]

    # -- concurrency -------------------------------------------------------------------

    async def test_concurrent_puts_and_removes_lose_nothing(self, store: Store) -> None:
        old = [build_plan(f"old/{i:03d}", T, params={"v": "old"}) for i in range(200)]
        await store.put_many(old)
        new = [build_plan(f"new/{i:03d}", T + 1, params={"v": "new"}) for i in range(200)]
        replaced = [attrs.evolve(plan, params={"v": "replaced"}) for plan in old[100:]]
        writes = [store.remove(plan.key) for plan in old[:100]]
        writes += [store.put(plan) for plan in new + replaced]
        random.Random(4).shuffle(writes)
        await asyncio.gather(*writes)
        expected = {plan.key: plan for plan in replaced + new}
        assert await store.keys() == sorted(expected)
        stored = await asyncio.gather(*(store.get(key) for key in sorted(expected)))
        assert stored == [expected[key] for key in sorted(expected)]

    # -- claim ---------------------------------------------------------------------------

    async def test_claim_takes_due_plans_in_due_order(self, store: Store) -> None:
        plans = {key: build_plan(key, T + offset) for key, offset in
                 [("b", 0), ("a", 0), ("c", -2), ("d", 1), ("e", 3)]}
        await store.put_many(plans.values())
        claimed = await store.claim(T + 1, node="n1", lease_until=leased())
        assert claimed == [plans["c"], plans["a"], plans["b"], plans["d"]]

    async def test_claim_respects_limit_and_continues_in_order(self, store: Store) -> None:
        plans = [build_plan(f"l{i}", T - i % 3) for i in range(10)]
        await store.put_many(plans)
        batches = [await store.claim(T, node="n1", lease_until=leased(), limit=3)
                   for _ in range(5)]
        assert [len(batch) for batch in batches] == [3, 3, 3, 1, 0]
        assert [plan for batch in batches for plan in batch] == in_order(plans)

    async def test_claimed_plan_stays_readable(self, store: Store) -> None:
        plan = build_plan("readable", T)
        await store.put(plan)
        assert await store.claim(T, node="n1", lease_until=leased()) == [plan]
        stored = await store.get("readable")
        assert stored.status in {STATUS_WAITING, STATUS_EXECUTING}
        assert attrs.evolve(stored, status=plan.status) == plan, (
            "claiming may mark the stored plan executing but must not change anything else")
        assert await store.keys() == ["readable"]

    async def test_claim_never_returns_a_leased_occurrence_again(self, store: Store) -> None:
        await store.put_many([build_plan("once", T), build_plan("later", T + 1)])
        [claimed] = await store.claim(T, node="n1", lease_until=leased())
        assert claimed.key == "once"
        assert await store.claim(T, node="n1", lease_until=leased()) == []
        assert occurrences(await store.claim(T + 50, node="n2", lease_until=leased())) == [
            ("later", T + 1)]

    async def test_concurrent_claims_share_out_each_occurrence_once(self, store: Store) -> None:
        plans = [build_plan(f"cc{i:03d}", T + i % 10) for i in range(200)]
        await store.put_many(plans)

        results = await asyncio.gather(*(claim_until_dry(store, T + 9, f"n{i}", len(plans))
                                         for i in range(10)))
        taken = occurrences(plan for batch in results for plan in batch)
        assert len(taken) == len(set(taken)), "an occurrence was claimed twice"
        assert sorted(taken) == sorted(occurrences(plans))

    async def test_expired_lease_is_claimed_again(self, store: Store) -> None:
        plan = build_plan("expiring", T)
        await store.put(plan)
        assert await store.claim(T, node="n1", lease_until=expired()) == [plan]
        assert await store.claim(T, node="n2", lease_until=leased()) == [plan], (
            "an occurrence whose node died (lease expired) was not taken over")
        assert await store.claim(T, node="n3", lease_until=leased()) == []

    async def test_release_makes_a_nodes_occurrences_claimable(self, store: Store) -> None:
        plans = [build_plan(key, T) for key in ("a", "b", "c")]
        await store.put_many(plans)
        await store.claim(T, node="n1", lease_until=leased(), limit=2)
        await store.claim(T, node="n2", lease_until=leased())
        await store.release("n3")
        assert await store.claim(T, node="n3", lease_until=leased()) == []
        await store.release("n1")
        assert await store.claim(T, node="n1", lease_until=leased()) == plans[:2]
        assert await store.claim(T, node="n1", lease_until=leased()) == []

    async def test_extend_lease_keeps_the_occurrence_leased(self, store: Store) -> None:
        plan = build_plan("extended", T)
        await store.put(plan)
        [claimed] = await store.claim(T, node="n1", lease_until=expired())
        await store.extend_lease(claimed, leased())
        assert await store.claim(T, node="n2", lease_until=leased()) == []
        await store.extend_lease(claimed, expired())
        assert await store.claim(T, node="n2", lease_until=leased()) == [plan]

    async def test_reschedule_puts_the_successor(self, store: Store) -> None:
        await store.put(build_plan("repeat", T, count=0))
        [claimed] = await store.claim(T, node="n1", lease_until=leased())
        successor = attrs.evolve(claimed, next_time=T + 10, current_count=1, last_timeout=T)
        assert await store.reschedule(claimed, successor) in {True, None}
        assert await store.get("repeat") == successor
        assert await store.due(T + 10, T + 10) == [successor]
        assert await store.claim(T + 9, node="n1", lease_until=leased()) == []
        assert await store.claim(T + 10, node="n1", lease_until=leased()) == [successor], (
            "a successor must be claimable while the previous occurrence is in flight")

    async def test_reschedule_to_none_deletes_the_plan(self, store: Store) -> None:
        await store.put(build_plan("last", T))
        [claimed] = await store.claim(T, node="n1", lease_until=leased())
        await store.reschedule(claimed, None)
        await expect_error(ErrorCode.NOT_FOUND, store.get("last"))
        assert await store.count() == 0
        assert await store.keys() == []

    async def test_reschedule_leaves_a_replaced_plan_alone(self, store: Store) -> None:
        await store.put(build_plan("changed", T))
        [claimed] = await store.claim(T, node="n1", lease_until=leased())
        replacement = build_plan("changed", T + 5, created_time=T + 0.5, params={"v": "new"})
        await store.put(replacement)
        assert await store.reschedule(claimed, attrs.evolve(claimed, next_time=T + 10)) in {
            False, None}, "reported a replaced plan as still claimed"
        assert await store.get("changed") == replacement
        assert await store.claim(T + 10, node="n1", lease_until=leased()) == [replacement]

    async def test_reschedule_leaves_a_removed_plan_alone(self, store: Store) -> None:
        await store.put(build_plan("removed", T))
        [claimed] = await store.claim(T, node="n1", lease_until=leased())
        await store.remove("removed")
        assert await store.reschedule(claimed, attrs.evolve(claimed, next_time=T + 10)) in {
            False, None}, "reported a removed plan as still claimed"
        await expect_error(ErrorCode.NOT_FOUND, store.get("removed"))
        assert await store.claim(T + 10, node="n1", lease_until=leased()) == []

    async def test_reschedule_many_reports_which_plans_were_still_claimed(
            self, store: Store) -> None:
        """The engine fires an occurrence claimed ahead of its due second only if its plan
        was not removed or replaced meanwhile; a store may report nothing (None)."""
        await store.put_many([build_plan(key, T, count=0)
                              for key in ("kept", "replaced", "removed", "last")])
        claimed = {plan.key: plan
                   for plan in await store.claim(T, node="n1", lease_until=leased())}
        replacement = build_plan("replaced", T, created_time=T + 0.5, params={"v": "new"})
        await store.put(replacement)
        await store.remove("removed")
        pairs: list[tuple[Plan, Plan | None]] = [
            (claimed[key], attrs.evolve(claimed[key], next_time=T + 10, current_count=1,
                                        last_timeout=T))
            for key in ("replaced", "kept", "removed")]
        pairs.append((claimed["last"], None))
        reported = await store.reschedule_many(pairs)
        if reported is None or None in reported:
            pytest.skip("the store does not report whether plans were still claimed")
        assert list(reported) == [False, True, False, True]
        assert await store.get("replaced") == replacement
        assert (await store.get("kept")).next_time == T + 10
        assert await store.keys() == ["kept", "replaced"]

    async def test_ack_forgets_the_occurrence(self, store: Store) -> None:
        await store.put(build_plan("acked", T, count=0))
        [claimed] = await store.claim(T, node="n1", lease_until=expired())
        successor = attrs.evolve(claimed, next_time=T + 10, current_count=1, last_timeout=T)
        await store.reschedule(claimed, successor)
        await store.ack(claimed)
        assert await store.claim(T, node="n2", lease_until=leased()) == [], (
            "an acknowledged occurrence was returned again")
        await store.release("n1")
        assert await store.claim(T + 10, node="n2", lease_until=leased()) == [successor]

    async def test_claim_reschedule_ack_cycle_moves_a_plan_along(self, store: Store) -> None:
        await store.put(build_plan("cycle", T, count=3))
        fired = []
        for second in range(T, T + 6):
            for claimed in await store.claim(second, node="n1", lease_until=leased()):
                fired.append(claimed.occurrence())
                count = claimed.current_count + 1
                successor = None if count == claimed.count else attrs.evolve(
                    claimed, next_time=second + 2, current_count=count, last_timeout=second)
                await store.reschedule(claimed, successor)
                await store.ack(claimed)
        assert fired == [("cycle", T), ("cycle", T + 2), ("cycle", T + 4)]
        assert await store.keys() == []

    # -- heartbeats -------------------------------------------------------------------

    @requires(HEARTBEAT)
    async def test_a_silent_nodes_claims_are_taken_over(self, store: Store) -> None:
        plans = [build_plan(key, T) for key in ("a", "b")]
        await store.put_many(plans)
        assert await store.heartbeat("n1", expired()) is False, (
            "a node's first heartbeat must say it held nothing before")
        assert await store.claim(T, node="n1", lease_until=leased()) == plans
        assert await store.heartbeat("n2", leased()) is False
        assert await store.claim(T, node="n2", lease_until=leased()) == plans, (
            "the claims of a node whose heartbeat ran out were not taken over")
        assert await store.claim(T, node="n3", lease_until=leased()) == []

    @requires(HEARTBEAT)
    async def test_a_live_nodes_claims_are_kept(self, store: Store) -> None:
        plan = build_plan("kept", T)
        await store.put(plan)
        await store.heartbeat("n1", leased())
        assert await store.claim(T, node="n1", lease_until=leased()) == [plan]
        await store.heartbeat("n2", leased())
        assert await store.claim(T, node="n2", lease_until=leased()) == []
        assert await store.heartbeat("n1", leased()) is True

    @requires(HEARTBEAT)
    async def test_a_taken_over_node_claims_nothing_until_it_heartbeats(
            self, store: Store) -> None:
        await store.put(build_plan("old", T))
        await store.heartbeat("n1", expired())
        await store.claim(T, node="n1", lease_until=leased())
        assert occurrences(await store.claim(T, node="n2", lease_until=leased())) == [
            ("old", T)]
        await store.put(build_plan("new", T))
        assert await store.claim(T, node="n1", lease_until=leased()) == [], (
            "a node whose claims were taken over claimed again before its next heartbeat")
        assert await store.heartbeat("n1", leased()) is False, (
            "the heartbeat after a takeover must report it")
        assert occurrences(await store.claim(T, node="n1", lease_until=leased())) == [
            ("new", T)]
        assert await store.heartbeat("n1", leased()) is True

    @requires(HEARTBEAT)
    async def test_a_late_heartbeat_keeps_the_claims_no_node_took(self, store: Store) -> None:
        plans = [build_plan(key, T) for key in ("x", "y")]
        await store.put_many(plans)
        await store.heartbeat("n1", expired())
        assert await store.claim(T, node="n1", lease_until=leased(), limit=1) == plans[:1]
        assert await store.claim(T, node="n1", lease_until=leased()) == plans[1:], (
            "a node's own claim took its claims over")
        assert await store.heartbeat("n1", leased()) is True
        assert await store.claim(T, node="n2", lease_until=leased()) == []

    # -- several nodes -----------------------------------------------------------------

    @requires(MULTI_NODE)
    async def test_instances_over_the_same_data_see_each_others_writes(
            self, store: Store, stores: OpenStores) -> None:
        other = await stores.open()
        plan = build_plan("shared", T)
        await store.put(plan)
        assert await other.get("shared") == plan
        assert await other.keys() == ["shared"]
        assert await other.due(T, T) == [plan]
        await other.remove("shared")
        await expect_error(ErrorCode.NOT_FOUND, store.get("shared"))

    @requires(MULTI_NODE)
    async def test_two_instances_never_claim_one_occurrence(
            self, store: Store, store_factory: StoreFactory) -> None:
        plans = [build_plan(f"mn{i:03d}", T + i % 10) for i in range(400)]
        await store.put_many(plans)

        async def claim_all(instance: Store, node: str) -> list[Plan]:
            batches = await asyncio.gather(*(claim_until_dry(instance, T + 9, node, len(plans))
                                             for _ in range(4)))
            return [plan for batch in batches for plan in batch]

        async def other_node() -> list[Plan]:
            other = store_factory.build()
            await other.open()
            try:
                return await claim_all(other, "node-b")
            finally:
                await other.close()

        # The second node runs in its own thread and event loop, as another process would.
        here, there = await asyncio.gather(
            claim_all(store, "node-a"), asyncio.to_thread(asyncio.run, other_node()))
        taken = occurrences(here + there)
        assert len(taken) == len(set(taken)), "two nodes claimed the same occurrence"
        assert sorted(taken) == sorted(occurrences(plans))

    @requires(MULTI_NODE)
    async def test_another_instance_takes_over_an_expired_lease(
            self, store: Store, stores: OpenStores) -> None:
        other = await stores.open()
        plan = build_plan("takeover", T)
        await store.put(plan)
        assert await store.claim(T, node="dead", lease_until=expired()) == [plan]
        assert await other.claim(T, node="alive", lease_until=leased()) == [plan]
        assert await store.claim(T, node="dead", lease_until=leased()) == []

    @requires(HEARTBEAT)
    async def test_nodes_lists_each_nodes_heartbeat_and_claims(self, store: Store) -> None:
        until = leased()
        await store.heartbeat("n1", until)
        await store.heartbeat("n2", until + 1)
        await store.heartbeat("silent", expired())
        await store.put_many([build_plan("held1", T), build_plan("held2", T)])
        assert len(await store.claim(T, node="n1", lease_until=leased())) == 2
        reported = await store.nodes()
        if reported is None:
            pytest.skip("the store does not report its nodes (nodes() returns None)")
        nodes = {state.node: state for state in reported}
        assert set(nodes) == {"n1", "n2", "silent"}
        assert (nodes["n1"].in_flight, nodes["n2"].in_flight) == (2, 0)
        assert nodes["n1"].alive_until == pytest.approx(until)
        assert nodes["silent"].alive_until is None, "a node taken over reads None"

    # -- the failures list -------------------------------------------------------------

    async def test_count_due_counts_what_due_returns(self, store: Store) -> None:
        await store.put_many([build_plan(f"cd{i}", T + i) for i in range(10)])
        await store.claim(T + 1, node="n1", lease_until=leased())
        for start, end in ((T, T + 9), (T + 2, T + 4), (T + 20, T + 30), (T - 5, T)):
            assert await store.count_due(start, end) == len(await store.due(start, end))

    @requires(FAILURES)
    async def test_failures_are_listed_newest_first_filtered_and_paged(
            self, store: Store) -> None:
        added = [build_failure("a:1", T, failed_at=T + 1.5),
                 build_failure("a:2", T + 1, failed_at=T + 2.5, action="http"),
                 build_failure("b:1", T, failed_at=T + 3.5)]
        for failure in added:
            await store.add_failure(failure)
        page = await store.list_failures()
        assert (page.total, page.dropped) == (3, 0)
        assert page.items == added[::-1], "not newest first, or not round-tripped"
        assert ids((await store.list_failures(prefix="a:")).items) == [f"{T + 1}:a:2",
                                                                       f"{T}:a:1"]
        assert ids((await store.list_failures(action="http")).items) == [f"{T + 1}:a:2"]
        page = await store.list_failures(limit=1, offset=1)
        assert (page.total, ids(page.items)) == (3, [f"{T + 1}:a:2"])
        assert (await store.list_failures(limit=0)).total == 3
        assert (await store.list_failures(prefix="zzz")).total == 0

    @requires(FAILURES)
    async def test_failures_are_read_and_removed_by_id(self, store: Store) -> None:
        first, second, third = (build_failure(f"rm{i}", T + i, failed_at=T + i + 10.0)
                                for i in range(3))
        for failure in (first, second, third):
            await store.add_failure(failure)
        assert await store.get_failures([third.id, "0:nothing", first.id]) == [third, first]
        assert await store.get_failures(None) == [third, second, first]
        assert await store.remove_failures([first.id, "0:nothing"]) == 1
        assert await store.get_failures(None) == [third, second]
        assert await store.remove_failures(None) == 2
        assert (await store.list_failures()).total == 0
        assert await store.remove_failures([second.id]) == 0

    @requires(FAILURES)
    async def test_a_failure_of_the_same_occurrence_replaces_it_as_the_newest(
            self, store: Store) -> None:
        old = build_failure("again", T, failed_at=T + 1.0)
        await store.add_failure(old)
        await store.add_failure(build_failure("other", T, failed_at=T + 2.0))
        again = attrs.evolve(old, failed_at=T + 3.0, error="still failing")
        await store.add_failure(again)
        page = await store.list_failures()
        assert page.total == 2
        assert page.items[0] == again

    @requires(FAILURES)
    async def test_the_failures_list_drops_the_oldest_beyond_its_bound(
            self, stores: OpenStores, store_factory: StoreFactory) -> None:
        bounded = StoreFactory(store_factory.target, {**store_factory.values,
                                                      "failures_max": 3})
        store = bounded.build()
        await store.open()
        try:
            assert store.failures_max == 3
            for i in range(5):
                await store.add_failure(build_failure(f"b{i}", T + i, failed_at=T + i + 0.5))
            page = await store.list_failures()
            assert (page.total, page.dropped) == (3, 2)
            assert [failure.key for failure in page.items] == ["b4", "b3", "b2"]
        finally:
            await store.close()

    @requires(FAILURES, PERSISTENT)
    async def test_failures_survive_reopening(self, store: Store, stores: OpenStores,
                                              store_factory: StoreFactory) -> None:
        kept, gone = build_failure("kept", T), build_failure("gone", T + 1)
        await store.add_failure(kept)
        await store.add_failure(gone)
        await store.remove_failures([gone.id])
        await stores.close(store)
        reopened = await stores.open()
        assert await reopened.get_failures(None) == [kept]

    @requires(FAILURES, MULTI_NODE)
    async def test_instances_share_the_failures_list(self, store: Store,
                                                     stores: OpenStores) -> None:
        other = await stores.open()
        failure = build_failure("shared-failure", T)
        await store.add_failure(failure)
        assert await other.get_failures(None) == [failure]
        assert await other.remove_failures([failure.id]) == 1
        assert (await store.list_failures()).total == 0
