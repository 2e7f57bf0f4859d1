"""The original forsun's store API, kept so stores of legacy extensions run unmodified::

    from forsun.store.store import Store

    class MyStore(Store):
        async def get_plan(self, key): ...
        ...

    class MyExtension(Extension):
        def register(self):
            self.register_store("mine", MyStore)     # then forsund --driver=mine

A legacy store is built with no argument, like the original built it, and
:class:`LegacyStoreAdapter` runs it under the store contract (:mod:`forsun.store.base`).

Who holds what: the legacy store holds the plans (``set_plan``/``get_plan``/
``remove_plan``/``get_plan_keys``) and the checkpoint (``set_current``/``get_current``).
The adapter keeps in memory only what the legacy API cannot answer: the plans ordered by
due second (rebuilt at :meth:`~LegacyStoreAdapter.open` from ``get_plan_keys("")`` and
``get_plan``) and the in-flight occurrences. It still keeps the legacy time index up to
date (``add_time_plan``/``remove_time_plan``, in the order the original called them) so
the store's data has the shape its author expects; it never reads it back, so
``get_time_plans``, ``delete_time_plans``, ``get_time_plan`` and ``set_time_plan`` are not
called.

What a legacy store cannot guarantee, so the adapter declares no capability:

- not ``multi_node``: the due index and the leases live in one process, so a claim is not
  atomic across processes; two forsund sharing a legacy store's data would fire twice;
- not ``persistent`` for occurrences in flight: an occurrence whose action had not finished
  when forsund stopped or crashed is not fired again (at most once, as in the original);
  plans and the checkpoint last as long as the legacy store keeps them;
- not ``durable``: the adapter cannot know when the legacy store's writes are safe;
- a put or remove is several legacy calls, not atomic: a legacy store failing half way
  may keep a stale time-index entry (the plans themselves stay consistent);
- opening reads every plan once.

Legacy methods may be coroutine functions, tornado ``gen.coroutine`` functions or plain
functions. ``set_plan`` returning ``False`` means it refused the plan (error 1004).
"""

from __future__ import annotations

import asyncio
import bisect
import inspect
import time
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import ErrorCode, ForsunPlanError
from ..plan import Plan, validate_plan
from ..store.base import Store as ContractStore
from .plan import Plan as LegacyPlan
from .registry import factory_for

if TYPE_CHECKING:
    from ..options import Options


class Store:
    """Base class of legacy stores: the original's method names, all coroutines.

    ``set_current``/``get_current`` keep the last processed second; ``set_plan(plan)``,
    ``get_plan(key)`` (None when missing) and ``remove_plan(key)`` keep plans by key;
    ``add_time_plan(next_time, key)`` and the other ``*_time_plan*`` methods keep the
    index of keys by due second; ``get_plan_keys(prefix)`` lists keys.
    """

    async def init(self) -> None:
        pass

    async def uninit(self) -> None:
        pass

    async def set_current(self, current_time: int) -> Any:
        raise NotImplementedError()

    async def get_current(self) -> int | None:
        raise NotImplementedError()

    async def set_plan(self, plan: Plan) -> Any:
        raise NotImplementedError()

    async def get_plan(self, key: str) -> Plan | None:
        raise NotImplementedError()

    async def remove_plan(self, key: str) -> Plan | None:
        raise NotImplementedError()

    async def has_plan(self, key: str) -> Plan | None:
        return await self.get_plan(key)

    async def add_time_plan(self, next_time: int, key: str) -> Any:
        raise NotImplementedError()

    async def get_time_plan(self, next_time: int, key: str) -> Any:
        raise NotImplementedError()

    async def set_time_plan(self, next_time: int, key: str, status: int) -> Any:
        raise NotImplementedError()

    async def remove_time_plan(self, next_time: int, key: str) -> Any:
        raise NotImplementedError()

    async def get_time_plans(self, ts: int) -> Any:
        raise NotImplementedError()

    async def delete_time_plans(self, ts: int) -> Any:
        raise NotImplementedError()

    async def get_plan_keys(self, prefix: str = "") -> list[str]:
        raise NotImplementedError()


def adapt_store(cls: type) -> Any:
    """The store factory (``factory(options)``) for a class given to ``register_store``:
    a contract store class is its own factory, a legacy one is wrapped in
    :class:`LegacyStoreAdapter`."""
    return factory_for(cls, ContractStore, Store, LegacyStoreAdapter,
                       "forsun.store.store.Store")


async def _result(value: Any) -> Any:
    """The value of a legacy call, awaiting it when it is awaitable."""
    return await value if inspect.isawaitable(value) else value


def _copy(plan: Plan) -> Plan:
    return attrs.evolve(plan, params=dict(plan.params))


def _legacy(plan: Plan) -> LegacyPlan:
    """A copy of ``plan`` as the original's plan class (with ``dumps()``)."""
    return LegacyPlan.of(plan)


@attrs.define
class _Lease:
    plan: Plan
    node: str
    until: float


class LegacyStoreAdapter(ContractStore):
    """Runs an instance of the legacy store class ``legacy_cls`` under the store contract
    (see the module docstring for what it keeps itself and what it cannot guarantee)."""

    def __init__(self, legacy_cls: type[Store], options: Options | None = None) -> None:
        super().__init__(options)
        self.legacy = legacy_cls()
        self._order: list[tuple[int, str]] = []  # (next_time, key) of every plan, sorted
        self._next_time: dict[str, int] = {}
        self._unclaimed: set[str] = set()  # keys not claimed since their last put
        self._leases: dict[tuple[str, int], _Lease] = {}
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return type(self.legacy).__name__

    async def open(self) -> None:
        await _result(self.legacy.init())
        for key in await _result(self.legacy.get_plan_keys("")):
            plan = await _result(self.legacy.get_plan(key))
            if plan is not None:
                self._index(plan)

    async def close(self) -> None:
        await _result(self.legacy.uninit())

    # -- the in-memory index -------------------------------------------------------------

    def _index(self, plan: Plan) -> None:
        self._unindex(plan.key)
        bisect.insort(self._order, (plan.next_time, plan.key))
        self._next_time[plan.key] = plan.next_time
        self._unclaimed.add(plan.key)

    def _unindex(self, key: str) -> None:
        next_time = self._next_time.pop(key, None)
        if next_time is not None:
            del self._order[bisect.bisect_left(self._order, (next_time, key))]
        self._unclaimed.discard(key)

    def _keys_due(self, start: int, end: int) -> list[tuple[int, str]]:
        low = bisect.bisect_left(self._order, (start, ""))
        high = bisect.bisect_left(self._order, (end + 1, ""))
        return self._order[low:high]

    # -- writes through the legacy API ----------------------------------------------------

    async def _stored(self, key: str) -> Plan | None:
        return await _result(self.legacy.get_plan(key))

    async def _write(self, plan: Plan, old: Plan | None) -> None:
        if old is not None:
            await _result(self.legacy.remove_time_plan(old.next_time, old.key))
        await _result(self.legacy.add_time_plan(plan.next_time, plan.key))
        if await _result(self.legacy.set_plan(_legacy(plan))) is False:
            raise ForsunPlanError(ErrorCode.STORE_FAILED,
                                  f"legacy store {self.name} refused plan {plan.key!r}")
        self._index(plan)

    async def _delete(self, plan: Plan) -> None:
        await _result(self.legacy.remove_time_plan(plan.next_time, plan.key))
        await _result(self.legacy.remove_plan(plan.key))
        self._unindex(plan.key)

    # -- plans -------------------------------------------------------------------------

    async def put(self, plan: Plan) -> None:
        validate_plan(plan)
        async with self._lock:
            await self._write(plan, await self._stored(plan.key))

    async def get(self, key: str) -> Plan:
        plan = await self._stored(key)
        if plan is None:
            raise ForsunPlanError.not_found(key)
        return _copy(plan)

    async def remove(self, key: str) -> Plan:
        async with self._lock:
            plan = await self._stored(key)
            if plan is None:
                raise ForsunPlanError.not_found(key)
            await self._delete(plan)
        return _copy(plan)

    async def keys(self, prefix: str = "") -> list[str]:
        keys = await _result(self.legacy.get_plan_keys(prefix))
        return sorted(key for key in keys if key.startswith(prefix))

    async def due(self, start: int, end: int) -> list[Plan]:
        plans = []
        for next_time, key in self._keys_due(start, end):
            plan = await self._stored(key)
            if plan is not None and plan.next_time == next_time:
                plans.append(_copy(plan))
        return plans

    async def count(self) -> int:
        return len(self._next_time)

    # -- claiming ----------------------------------------------------------------------

    async def claim(self, up_to: int, *, node: str, lease_until: float,
                    limit: int = 10_000) -> list[Plan]:
        now = time.time()
        async with self._lock:
            due = self._order[:bisect.bisect_left(self._order, (up_to + 1, ""))]
            candidates: list[tuple[int, str, bool, _Lease | None]] = [
                (next_time, key, False, None) for next_time, key in due
                if key in self._unclaimed]
            candidates += [(lease.plan.next_time, lease.plan.key, True, lease)
                           for lease in self._leases.values() if lease.until <= now]
            candidates.sort(key=lambda candidate: candidate[:3])
            claimed = []
            for _, key, _, lease in candidates[:limit]:
                if lease is None:
                    plan = await self._stored(key)
                    if plan is None:
                        continue
                    lease = self._leases[plan.occurrence()] = _Lease(_copy(plan), node, 0.0)
                    self._unclaimed.discard(key)
                lease.node, lease.until = node, lease_until
                claimed.append(_copy(lease.plan))
        return claimed

    async def reschedule(self, claimed: Plan, successor: Plan | None) -> bool:
        if successor is not None:
            validate_plan(successor)
        async with self._lock:
            stored = await self._stored(claimed.key)
            if stored is None or (stored.next_time, stored.created_time) != (
                    claimed.next_time, claimed.created_time):
                return False
            if successor is None:
                await self._delete(stored)
            else:
                await self._write(successor, stored)
            return True

    async def ack(self, claimed: Plan) -> None:
        self._leases.pop(claimed.occurrence(), None)

    async def extend_lease(self, claimed: Plan, lease_until: float) -> None:
        lease = self._leases.get(claimed.occurrence())
        if lease is not None:
            lease.until = lease_until

    async def release(self, node: str) -> None:
        for lease in self._leases.values():
            if lease.node == node:
                lease.until = 0.0

    # -- checkpoint --------------------------------------------------------------------

    async def get_checkpoint(self) -> int | None:
        current = await _result(self.legacy.get_current())
        return int(current) if current else None

    async def set_checkpoint(self, second: int) -> None:
        async with self._lock:
            current = await _result(self.legacy.get_current())
            if not current or second > int(current):
                await _result(self.legacy.set_current(second))
