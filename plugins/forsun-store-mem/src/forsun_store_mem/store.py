"""The mem store: every plan in memory (:mod:`.table`), every mutation in an append-only log
compacted into snapshots (:mod:`.journal`), or nothing on disk when no file is configured.

Each mutation is logged first (the bytes reach the kernel before the call returns), then
applied to the table. Under ``--driver-mem-store-fsync=always`` the calls that answer a
client (``put``, ``put_many``, ``remove``) also wait for an fsync shared with every
concurrent caller. The engine's own mutations (claim, reschedule, ack, lease changes,
checkpoint) do not wait (they are fsynced within a second): the log is replayed as a
prefix, so losing its unsynced tail in a machine crash only makes occurrences fire again
(at-least-once), never loses an acknowledged plan.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence

from forsun.errors import ForsunPlanError
from forsun.options import Options
from forsun.plan import Plan, validate_plan, validated_list
from forsun.store.base import DURABLE, FAILURES, INLINE, PERSISTENT, Store
from forsun.store.failures import Failure, FailureList, FailurePage

from . import ops, record
from .failures_file import FailuresFile
from .journal import Journal
from .table import PlanTable

log = logging.getLogger(__name__)

DEFAULT_FILE = "forsun.db"
DEFAULT_FSYNC = "everysec"
DEFAULT_COMPACT_SIZE = 64 << 20


class MemStore(Store):
    """The embedded default store (``--driver=mem``).

    Capabilities are decided per instance (``inline`` always: no method needs a task): with
    a file it is ``persistent`` and ``durable``
    (every policy hands acknowledged writes to the kernel, so they survive SIGKILL; the
    fsync policy decides what a machine crash may take). Without a file it has neither.
    """

    def __init__(self, options: Options | None = None) -> None:
        super().__init__(options)
        values = options if options is not None else {}
        path = str(values.get("driver_mem_store_file") or "")
        self.table = PlanTable()
        self.journal = Journal(
            path, str(values.get("driver_mem_store_fsync") or DEFAULT_FSYNC),
            int(values.get("driver_mem_store_compact_size") or DEFAULT_COMPACT_SIZE),
            skip_damage=bool(values.get("driver_mem_store_recover")),
        ) if path else None
        self.capabilities = frozenset({DURABLE, PERSISTENT, FAILURES, INLINE}) if path \
            else frozenset({FAILURES, INLINE})
        self.failures = FailureList(self.failures_max)
        self.failures_file = FailuresFile(self.journal.path) if self.journal else None

    async def open(self) -> None:
        if self.journal is None:
            log.info("mem store: no --driver-mem-store-file, plans are kept in memory only "
                     "and are lost when the process exits")
            return
        await self.journal.open(self.table)
        assert self.failures_file is not None
        try:
            self.failures_file.load(self.failures)
        except BaseException:
            await self.journal.close(self.table)
            raise

    async def close(self) -> None:
        if self.journal is not None:
            assert self.failures_file is not None
            self.failures_file.close()
            await self.journal.close(self.table)

    def info(self) -> dict[str, str]:
        """Entries for ``forsun info``."""
        if self.journal is None:
            return {"mem_store_file": "", "mem_store_fsync": "memory only"}
        return self.journal.info()

    def _log(self, data: bytes) -> None:
        if self.journal is not None:
            self.journal.append(data)

    async def _commit(self) -> None:
        if self.journal is not None:
            await self.journal.commit()

    # -- plans ---------------------------------------------------------------------------

    async def put(self, plan: Plan) -> None:
        validate_plan(plan)
        rec = record.encode(plan)
        self._log(ops.put(rec))
        self.table.put(rec)
        await self._commit()

    async def put_many(self, plans: Iterable[Plan]) -> None:
        recs = [record.encode(plan) for plan in validated_list(plans)]
        self._log(ops.puts(recs))
        self.table.put_many(recs)
        await self._commit()

    async def get(self, key: str) -> Plan:
        rec = self.table.get(_key(key))
        if rec is None:
            raise ForsunPlanError.not_found(key)
        return record.decode(rec)

    async def existing(self, keys: Sequence[str]) -> set[str]:
        return {key for key in keys if self.table.get(_key(key)) is not None}

    async def remove(self, key: str) -> Plan:
        raw = _key(key)
        if self.table.get(raw) is None:
            raise ForsunPlanError.not_found(key)
        self._log(ops.remove(raw))
        rec = self.table.remove(raw)
        assert rec is not None
        await self._commit()
        return record.decode(rec)

    async def keys(self, prefix: str = "") -> list[str]:
        return [key.decode("utf-8") for key in self.table.keys(_key(prefix))]

    async def plan_pages(self, prefix: str = "", size: int = 1000
                         ) -> AsyncIterator[list[Plan]]:
        """Pages read from the key index, each from the last key read on (no list of every
        key: an export of 10^7 plans adds one page to the memory the store holds)."""
        raw, after = _key(prefix), None
        while True:
            recs = self.table.page(raw, after, size)
            if not recs:
                return
            yield [record.decode(rec) for rec in recs]
            if len(recs) < size:
                return
            after = recs[-1][:recs[-1].index(0)]

    async def due(self, start: int, end: int) -> list[Plan]:
        return [record.decode(rec) for rec in self.table.due(start, end)]

    async def count(self) -> int:
        return len(self.table)

    async def count_due(self, start: int, end: int) -> int:
        return self.table.count_due(start, end)

    # -- occurrences ---------------------------------------------------------------------

    async def claim(self, up_to: int, *, node: str, lease_until: float,
                    limit: int = 10_000) -> list[Plan]:
        occurrences = self.table.claimable(up_to, limit, time.time())
        if not occurrences:
            return []
        self._log(ops.claim(occurrences, node, lease_until))
        return [record.decode(rec)
                for rec in self.table.apply_claim(occurrences, node, lease_until)]

    async def reschedule(self, claimed: Plan, successor: Plan | None) -> bool:
        (still_claimed,) = await self.reschedule_many([(claimed, successor)])
        return still_claimed

    async def reschedule_many(self, pairs: Sequence[tuple[Plan, Plan | None]]) -> list[bool]:
        """One log write for the whole batch, made before the table changes."""
        # (key, successor's record or None, the stored record when it goes, else None)
        changes: list[tuple[bytes, bytes | None, bytes | None]] = []
        still_claimed = []
        stored_as_claimed = self.table.stored_as_claimed
        for claimed, successor in pairs:
            raw = _key(claimed.key)
            stored = stored_as_claimed(raw, claimed.next_time, claimed.created_time)
            still_claimed.append(stored is not None)
            if stored is None:
                continue
            if successor is None:
                changes.append((raw, None, stored))
                continue
            validate_plan(successor)
            changes.append((raw, record.encode(successor),
                            stored if successor.key != claimed.key else None))
        if changes:
            self._log(b"".join((ops.remove(raw) if gone else b"")
                               + (ops.put(rec) if rec else b"") for raw, rec, gone in changes))
            for raw, rec, gone in changes:
                if gone is not None:
                    self.table.remove(raw, gone)
                if rec is not None:
                    self.table.put(rec)
        return still_claimed

    async def ack(self, claimed: Plan) -> None:
        await self.ack_many([claimed])

    async def ack_many(self, claimed: Sequence[Plan]) -> None:
        """One log write for the whole batch."""
        done = [occ for occ in dict.fromkeys(map(_occurrence, claimed))
                if occ in self.table.inflight]
        if not done:
            return
        self._log(b"".join(map(ops.ack, done)))
        for occ in done:
            self.table.ack(occ)

    async def extend_lease(self, claimed: Plan, lease_until: float) -> None:
        occ = _occurrence(claimed)
        if occ in self.table.inflight:
            self._log(ops.extend(occ, lease_until))
            self.table.extend(occ, lease_until)

    async def release(self, node: str) -> None:
        if any(held.node == node for held in self.table.inflight.values()):
            self._log(ops.release(node))
            self.table.release(node)

    async def get_checkpoint(self) -> int | None:
        return self.table.checkpoint

    async def set_checkpoint(self, second: int) -> None:
        current = self.table.checkpoint
        if current is None or second > current:
            self._log(ops.checkpoint(second))
            self.table.set_checkpoint(second)


    # -- failures (FILE.failures, :mod:`.failures_file`) ---------------------------------

    def _record(self, entry: dict[str, object]) -> None:
        if self.failures_file is not None:
            self.failures_file.append(entry, self.failures)

    async def add_failure(self, failure: Failure) -> None:
        self.failures.add(failure)
        self._record({"add": failure.to_dict()})

    async def list_failures(self, *, prefix: str = "", action: str = "", limit: int = 100,
                            offset: int = 0) -> FailurePage:
        return self.failures.page(prefix=prefix, action=action, limit=limit, offset=offset)

    async def get_failures(self, ids: Sequence[str] | None) -> list[Failure]:
        return self.failures.get(ids)

    async def remove_failures(self, ids: Sequence[str] | None) -> int:
        removed = self.failures.remove(ids)
        if removed:
            self._record({"remove": None if ids is None else list(ids)})
        return removed


def _key(key: str) -> bytes:
    # A key that is not valid UTF-8 is never stored; encoding it anyway makes lookups miss.
    return key.encode("utf-8", "surrogatepass")


def _occurrence(plan: Plan) -> bytes:
    return record.time_bytes(plan.next_time) + _key(plan.key)
