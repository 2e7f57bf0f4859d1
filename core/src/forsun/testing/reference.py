"""A small store and action written to the contracts and nothing more.

They are the conformance suite's own proof (``core/tests/test_reference_conformance.py``
runs every contract test on them; the self-test runs the suite on broken variants) and
the shortest correct implementations a plugin author can read. Not built for speed.

- :class:`ReferenceStore` keeps plans in dicts; its capabilities are ``heartbeat``,
  ``failures`` and ``inline``.
- :class:`FileReferenceStore` also appends every change as a JSON line to the file named
  by the option value ``reference_store_file`` before returning, and replays the file on
  open. A write the kernel accepted survives SIGKILL, so it is ``durable`` (not against
  power loss: it never fsyncs), ``persistent`` and ``multi_node`` (and ``heartbeat``):
  instances sharing the file take an ``flock`` and read each other's new lines before
  every operation.
- :class:`ReferenceAction` appends ``[key, ts]`` JSON lines to the file named by its
  ``path`` param; :class:`ReferenceTarget` describes it to the action suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from ..action.base import Action, ActionError, Firing
from ..errors import ForsunPlanError
from ..plan import Plan, validate_plan
from ..store.base import (
    DURABLE,
    FAILURES,
    HEARTBEAT,
    INLINE,
    MULTI_NODE,
    PERSISTENT,
    NodeState,
    Store,
)
from ..store.failures import Failure, FailureList, FailurePage
from .action_suite import ActionTarget

#: A change of state; the file store writes these as its log lines.
Record = dict[str, Any]


@attrs.define
class _Lease:
    plan: Plan
    node: str
    until: float


def _order(plan: Plan) -> tuple[int, str]:
    return (plan.next_time, plan.key)


def _copy(plan: Plan) -> Plan:
    return attrs.evolve(plan, params=dict(plan.params))


class ReferenceStore(Store):
    """Every rule of :mod:`forsun.store.base`, with dicts. Each operation reads state and
    commits a list of records; :meth:`_apply` is the only code that changes state."""

    capabilities: ClassVar[frozenset[str]] = frozenset({HEARTBEAT, FAILURES, INLINE})

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        #: Wall time by which leases and heartbeats end (tests may run it virtually).
        self.clock: Callable[[], float] = time.time
        self._plans: dict[str, Plan] = {}
        self._due: set[str] = set()  # keys not claimed since their last put
        self._leases: dict[tuple[str, int], _Lease] = {}
        self._checkpoint: int | None = None
        self._nodes: dict[str, float] = {}  # node -> alive until (-inf: taken over)
        self._failures = FailureList(self.failures_max)

    # -- state changes -------------------------------------------------------------

    @contextlib.contextmanager
    def _sync(self) -> Iterator[None]:
        """Hold this block atomic against other instances and see their changes."""
        yield

    def _commit(self, records: list[Record]) -> None:
        for record in records:
            self._apply(record)

    def _apply(self, record: Record) -> None:
        if "put" in record:
            plan = Plan.from_dict(record["put"])
            self._plans[plan.key] = plan
            self._due.add(plan.key)
        elif "drop" in record:
            self._plans.pop(record["drop"], None)
            self._due.discard(record["drop"])
        elif "lease" in record:
            key, ts = record["lease"]
            plan = Plan.from_dict(record["plan"])
            self._leases[(key, ts)] = _Lease(plan, record["node"], record["until"])
            if record.get("claim"):
                self._due.discard(key)
        elif "done" in record:
            key, ts = record["done"]
            self._leases.pop((key, ts), None)
        elif "checkpoint" in record:
            self._checkpoint = record["checkpoint"]
        elif "alive" in record:
            self._nodes[record["alive"]] = record["until"]
        elif "failure" in record:
            self._failures.add(Failure.from_dict(record["failure"]))
        elif "forget" in record:
            self._failures.remove(record["forget"])

    @staticmethod
    def _lease_record(lease: _Lease, *, claim: bool = False) -> Record:
        return {"lease": list(lease.plan.occurrence()), "plan": lease.plan.to_dict(),
                "node": lease.node, "until": lease.until, "claim": claim}

    # -- plans -------------------------------------------------------------------------

    async def put(self, plan: Plan) -> None:
        await self.put_many([plan])

    async def put_many(self, plans: Iterable[Plan]) -> None:
        plans = list(plans)
        for plan in plans:
            validate_plan(plan)
        with self._sync():
            self._commit([{"put": plan.to_dict()} for plan in plans])

    async def get(self, key: str) -> Plan:
        with self._sync():
            return _copy(self._stored(key))

    async def remove(self, key: str) -> Plan:
        with self._sync():
            plan = self._stored(key)
            self._commit([{"drop": key}])
            return plan

    def _stored(self, key: str) -> Plan:
        try:
            return self._plans[key]
        except KeyError:
            raise ForsunPlanError.not_found(key) from None

    async def keys(self, prefix: str = "") -> list[str]:
        with self._sync():
            return sorted(key for key in self._plans if key.startswith(prefix))

    async def due(self, start: int, end: int) -> list[Plan]:
        with self._sync():
            plans = [p for p in self._plans.values() if start <= p.next_time <= end]
        return [_copy(plan) for plan in sorted(plans, key=_order)]

    async def count(self) -> int:
        with self._sync():
            return len(self._plans)

    # -- claiming ----------------------------------------------------------------------

    async def claim(self, up_to: int, *, node: str, lease_until: float,
                    limit: int = 10_000) -> list[Plan]:
        now = self.clock()
        with self._sync():
            if self._nodes.get(node) == -math.inf:
                return []
            silent = {name for name, until in self._nodes.items()
                      if name != node and -math.inf < until < now}
            self._commit([self._lease_record(attrs.evolve(lease, until=0.0))
                          for lease in self._leases.values() if lease.node in silent]
                         + [{"alive": name, "until": -math.inf} for name in sorted(silent)])
            fresh = [self._plans[key] for key in self._due
                     if self._plans[key].next_time <= up_to]
            expired = [lease.plan for lease in self._leases.values() if lease.until <= now]
            candidates = [(*_order(p), False, p) for p in fresh]
            candidates += [(*_order(p), True, p) for p in expired]
            candidates.sort(key=lambda candidate: candidate[:3])
            chosen = [(was_leased, plan) for *_, was_leased, plan in candidates[:limit]]
            self._commit([self._lease_record(_Lease(plan, node, lease_until),
                                             claim=not was_leased)
                          for was_leased, plan in chosen])
        return [_copy(plan) for _, plan in chosen]

    async def reschedule(self, claimed: Plan, successor: Plan | None) -> bool:
        if successor is not None:
            validate_plan(successor)
        with self._sync():
            stored = self._plans.get(claimed.key)
            if stored is None or (stored.next_time, stored.created_time) != (
                    claimed.next_time, claimed.created_time):
                return False
            if successor is None:
                self._commit([{"drop": claimed.key}])
            else:
                self._commit([{"put": successor.to_dict()}])
            return True

    async def ack(self, claimed: Plan) -> None:
        with self._sync():
            if claimed.occurrence() in self._leases:
                self._commit([{"done": list(claimed.occurrence())}])

    async def extend_lease(self, claimed: Plan, lease_until: float) -> None:
        with self._sync():
            lease = self._leases.get(claimed.occurrence())
            if lease is not None:
                self._commit([self._lease_record(attrs.evolve(lease, until=lease_until))])

    async def release(self, node: str) -> None:
        with self._sync():
            self._commit([self._lease_record(attrs.evolve(lease, until=0.0))
                          for lease in self._leases.values() if lease.node == node])

    async def heartbeat(self, node: str, alive_until: float) -> bool:
        with self._sync():
            before = self._nodes.get(node)
            self._commit([{"alive": node, "until": alive_until}])
        return before is not None and before != -math.inf

    async def get_checkpoint(self) -> int | None:
        with self._sync():
            return self._checkpoint

    async def set_checkpoint(self, second: int) -> None:
        with self._sync():
            if self._checkpoint is None or second > self._checkpoint:
                self._commit([{"checkpoint": second}])


    async def nodes(self) -> list[NodeState]:
        with self._sync():
            return [NodeState(node, None if until == -math.inf else until,
                              sum(lease.node == node for lease in self._leases.values()))
                    for node, until in sorted(self._nodes.items())]

    # -- failures ------------------------------------------------------------------------

    async def add_failure(self, failure: Failure) -> None:
        with self._sync():
            self._commit([{"failure": failure.to_dict()}])

    async def list_failures(self, *, prefix: str = "", action: str = "", limit: int = 100,
                            offset: int = 0) -> FailurePage:
        with self._sync():
            return self._failures.page(prefix=prefix, action=action, limit=limit,
                                       offset=offset)

    async def get_failures(self, ids: Sequence[str] | None) -> list[Failure]:
        with self._sync():
            return self._failures.get(ids)

    async def remove_failures(self, ids: Sequence[str] | None) -> int:
        with self._sync():
            present = len(self._failures.get(ids))
            if present:
                self._commit([{"forget": None if ids is None else list(ids)}])
            return present


class FileReferenceStore(ReferenceStore):
    """:class:`ReferenceStore` journaled to the file ``options["reference_store_file"]``."""

    capabilities: ClassVar[frozenset[str]] = frozenset({DURABLE, PERSISTENT, MULTI_NODE,
                                                        HEARTBEAT, FAILURES, INLINE})

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self.path = Path(options["reference_store_file"])
        self._fd: int | None = None
        self._offset = 0  # end of the last complete line read or written

    async def open(self) -> None:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        with self._sync():  # replays the journal
            pass

    async def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @contextlib.contextmanager
    def _sync(self) -> Iterator[None]:
        assert self._fd is not None, "open() the store first"
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._read_new_lines()
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _read_new_lines(self) -> None:
        size = os.fstat(self._fd).st_size
        data = os.pread(self._fd, size - self._offset, self._offset)
        complete = data[:data.rfind(b"\n") + 1]  # a torn last line is a crashed writer's
        for line in complete.splitlines():
            self._apply(json.loads(line))
        self._offset += len(complete)

    def _commit(self, records: list[Record]) -> None:
        if records:
            self._write(b"".join(json.dumps(r).encode() + b"\n" for r in records))
        super()._commit(records)

    def _write(self, data: bytes) -> None:
        """Append ``data`` after the last complete line (dropping a torn one)."""
        os.ftruncate(self._fd, self._offset)
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, self._offset)
            self._offset += written
            view = view[written:]


class ReferenceAction(Action):
    """Appends ``[key, ts]`` as a JSON line to the file ``params["path"]``.

    Params for the suite: ``sleep`` (seconds to wait first), ``outcome`` ``"fail"`` (raise
    ActionError) or ``"retry"`` (raise ActionError asking for a retry).
    """

    required_params = ("path",)

    async def execute(self, firing: Firing) -> None:
        params = firing.params
        await asyncio.sleep(float(params.get("sleep") or 0))
        outcome = params.get("outcome", "")
        if outcome in {"fail", "retry"}:
            raise ActionError(f"{self.name} {params['path']}: asked to {outcome}",
                              retry=outcome == "retry")
        line = json.dumps([firing.key, firing.ts]) + "\n"
        await self.run_blocking(_append, Path(params["path"]), line)


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(line)


class ReferenceTarget(ActionTarget):
    """The file a :class:`ReferenceAction` appends to."""

    passes_timestamp = True
    blocking = True

    def __init__(self, path: Path) -> None:
        self.path = path

    def ok_params(self) -> dict[str, str]:
        return {"path": str(self.path)}

    def failing_params(self) -> dict[str, str]:
        return {**self.ok_params(), "outcome": "fail"}

    def retry_params(self) -> dict[str, str]:
        return {**self.ok_params(), "outcome": "retry"}

    def slow_params(self, seconds: float) -> dict[str, str]:
        return {**self.ok_params(), "sleep": str(seconds)}

    def missing_params(self) -> dict[str, str]:
        return {"sleep": "0"}

    async def deliveries(self) -> list[tuple[str, int | None]]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [(key, ts) for key, ts in map(json.loads, lines)]
