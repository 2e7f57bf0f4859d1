"""The mem store's state in memory: plans, their indexes, in-flight occurrences, checkpoint.

No I/O here. The store logs a mutation and then applies it with these methods; recovery
applies the logged mutations with the very same methods, so a replayed state is the live
state. Keys, records and entries are ``bytes`` (see :mod:`.record`).

Per plan this holds one record and, while the plan waits, one due entry, each in a
:class:`SortedSeq`: about 210 bytes for a 20-character key and two short params.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from itertools import islice, takewhile

import attrs

from . import record
from .sortedseq import SortedSeq


@attrs.define(slots=True)
class InFlight:
    """A claimed occurrence: the plan as claimed, who holds it and until when."""

    record: bytes
    node: str
    lease_until: float


@attrs.frozen(slots=True)
class Frozen:
    """A consistent copy of a table for a snapshot, sharing the sublists (see freeze())."""

    records: list[list[bytes]]
    entries: list[list[bytes]]
    claimed: list[bytes]
    inflight: list[InFlight]
    checkpoint: int | None
    record_count: int
    entry_count: int


class PlanTable:
    """Plans by key (records sorted by key) and by due time (entries sorted by
    ``(next_time, key)``, holding only plans that are not claimed)."""

    def __init__(self) -> None:
        self.by_key = SortedSeq()
        self.by_due = SortedSeq()
        #: key -> entry of its stored plan while that plan is claimed (and so not due)
        self.claimed: dict[bytes, bytes] = {}
        #: occurrence (an entry) -> its in-flight state
        self.inflight: dict[bytes, InFlight] = {}
        #: (lease_until, occurrence) heap; items whose lease changed since are skipped
        self._leases: list[tuple[float, bytes]] = []
        self.checkpoint: int | None = None

    def __len__(self) -> int:
        return len(self.by_key)

    # -- reading -----------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        if b"\0" in key:  # never stored; the probe below could match another key's record
            return None
        probe = key + b"\0"
        found = self.by_key.first_ge(probe)
        return found if found is not None and found.startswith(probe) else None

    def keys(self, prefix: bytes) -> list[bytes]:
        """Keys starting with ``prefix``, sorted."""
        if b"\0" in prefix:
            return []
        out = []
        for rec in self.by_key.iter_from(prefix):
            if not rec.startswith(prefix):
                break
            out.append(rec[:rec.index(0)])
        return out

    def page(self, prefix: bytes, after: bytes | None, limit: int) -> list[bytes]:
        """At most ``limit`` records whose key starts with ``prefix``, in key order, from
        the first key above ``after`` (None: from the first)."""
        if b"\0" in prefix:
            return []
        # Records are KEY NUL ...; keys hold no NUL, so AFTER \x01 is above every record of
        # AFTER and below the record of any greater key.
        start = prefix if after is None else max(prefix, after + b"\x01")
        return list(islice(
            takewhile(lambda rec: rec.startswith(prefix), self.by_key.iter_from(start)),
            limit))

    def due(self, start: int, end: int) -> list[bytes]:
        """Records of plans with ``start <= next_time <= end`` (claimed ones included), in
        ``(next_time, key)`` order."""
        end = min(end, record.MAX_TIME - 1)  # a far-future bound means "everything after"
        low, stop = record.time_bytes(max(start, record.MIN_TIME)), record.time_bytes(end + 1)
        waiting = takewhile(stop.__gt__, self.by_due.iter_from(low))
        claimed = sorted(e for e in self.claimed.values() if low <= e < stop)
        return [self._stored(entry) for entry in list(heapq.merge(waiting, claimed))]

    def count_due(self, start: int, end: int) -> int:
        """``len(self.due(start, end))`` without reading a record."""
        end = min(end, record.MAX_TIME - 1)
        low, stop = record.time_bytes(max(start, record.MIN_TIME)), record.time_bytes(end + 1)
        waiting = sum(1 for _ in takewhile(stop.__gt__, self.by_due.iter_from(low)))
        return waiting + sum(1 for e in self.claimed.values() if low <= e < stop)

    def _stored(self, entry: bytes) -> bytes:
        found = self.get(record.entry_key(entry))
        assert found is not None, "due index names a missing plan"
        return found

    def claimable(self, up_to: int, limit: int, now: float) -> list[bytes]:
        """Occurrences a claim at ``now`` takes: in-flight ones whose lease ended and waiting
        plans due by ``up_to``, in ``(next_time, key)`` order, at most ``limit``."""
        expired = set()
        while self._leases and self._leases[0][0] <= now:
            lease, occ = heapq.heappop(self._leases)
            held = self.inflight.get(occ)
            if held is not None and held.lease_until == lease:
                expired.add(occ)
        for occ in expired:  # still theirs until apply_claim re-leases them
            heapq.heappush(self._leases, (self.inflight[occ].lease_until, occ))
        stop = record.time_bytes(up_to + 1)
        waiting = takewhile(stop.__gt__, self.by_due.iter_from(b""))
        out: list[bytes] = []
        for occ in heapq.merge(sorted(expired), waiting):
            if out and out[-1] == occ:  # in flight and due again (put anew meanwhile)
                continue
            out.append(occ)
            if len(out) == limit:
                break
        return out

    # -- mutations (live and replay) -----------------------------------------------------

    def put(self, rec: bytes) -> None:
        """Create or replace the plan of ``rec``; it waits for its next_time."""
        self.put_many((rec,))

    def put_many(self, recs: Iterable[bytes]) -> None:
        """:meth:`put` of each record, in order."""
        upsert, add, key_length, entry = (self.by_key.upsert, self.by_due.add,
                                          record.key_length, record.entry)
        for rec in recs:
            key_len = key_length(rec)
            old = upsert(rec, rec[:key_len + 1])
            if old is not None:
                self._unindex(rec[:key_len], old)
            add(entry(rec, key_len))

    def remove(self, key: bytes, stored: bytes | None = None) -> bytes | None:
        """Delete and return the record under ``key`` (None if there is none). ``stored``:
        that record, when the caller has just read it (it saves a search)."""
        old = stored if stored is not None else self.get(key)
        if old is not None:
            self.by_key.discard(old)
            self._unindex(key, old)
        return old

    def _unindex(self, key: bytes, old: bytes) -> None:
        if self.claimed.pop(key, None) is None:
            self.by_due.discard(record.entry(old, len(key)))

    def apply_claim(self, occurrences: list[bytes], node: str, lease_until: float) -> list[bytes]:
        """Lease ``occurrences`` (from :meth:`claimable`) to ``node``; return their records.

        A waiting plan becomes claimed: no longer due, still readable (a plan put again
        for an occurrence already in flight takes its place). Occurrences that are neither
        due nor in flight are skipped.
        """
        out = []
        for occ in occurrences:
            if self.by_due.discard(occ):
                self.claimed[record.entry_key(occ)] = occ
                held = self.inflight[occ] = InFlight(self._stored(occ), node, lease_until)
            else:
                held = self.inflight.get(occ)
                if held is None:
                    continue
                held.node = node
                held.lease_until = lease_until
            heapq.heappush(self._leases, (lease_until, occ))
            out.append(held.record)
        return out

    def stored_as_claimed(self, key: bytes, next_time: int, created_time: float
                          ) -> bytes | None:
        """The record stored under ``key`` while its plan has this ``next_time`` and
        ``created_time`` (the claimed plan that reschedule may replace); else None."""
        stored = self.get(key)
        if (stored is not None and record.next_time(stored, len(key)) == next_time
                and record.created_time(stored, len(key)) == created_time):
            return stored
        return None

    def ack(self, occ: bytes) -> bool:
        """Forget an in-flight occurrence; False if it was not in flight."""
        if self.inflight.pop(occ, None) is None:
            return False
        if len(self._leases) > 2 * len(self.inflight) + 1024:
            self._rebuild_leases()
        return True

    def extend(self, occ: bytes, lease_until: float) -> bool:
        held = self.inflight.get(occ)
        if held is None:
            return False
        held.lease_until = lease_until
        heapq.heappush(self._leases, (lease_until, occ))
        return True

    def release(self, node: str) -> int:
        """End the leases of ``node``'s in-flight occurrences; return how many."""
        count = 0
        for occ, held in self.inflight.items():
            if held.node == node:
                held.lease_until = 0.0
                heapq.heappush(self._leases, (0.0, occ))
                count += 1
        return count

    def set_checkpoint(self, second: int) -> bool:
        """Keep the larger checkpoint; True if it moved."""
        if self.checkpoint is not None and second <= self.checkpoint:
            return False
        self.checkpoint = second
        return True

    def _rebuild_leases(self) -> None:
        self._leases = [(held.lease_until, occ) for occ, held in self.inflight.items()]
        heapq.heapify(self._leases)

    # -- snapshots -----------------------------------------------------------------------

    def freeze(self) -> Frozen:
        """A consistent copy that costs O(n / 1000): the sorted sequences copy a sublist
        only when it changes before :meth:`thaw`."""
        return Frozen(records=self.by_key.freeze(), entries=self.by_due.freeze(),
                      claimed=list(self.claimed),
                      inflight=[attrs.evolve(held) for held in self.inflight.values()],
                      checkpoint=self.checkpoint, record_count=len(self.by_key),
                      entry_count=len(self.by_due))

    def thaw(self) -> None:
        self.by_key.thaw()
        self.by_due.thaw()

    def load_records(self, batch: list[bytes]) -> None:
        """Append sorted records, all after the present ones (loading a snapshot)."""
        self.by_key.extend_sorted(batch)

    def load_entries(self, batch: list[bytes]) -> None:
        """Append sorted due entries, all after the present ones (loading a snapshot)."""
        self.by_due.extend_sorted(batch)

    def restore(self, claimed: list[bytes], inflight: list[InFlight],
                checkpoint: int | None) -> None:
        """Set what the loaded batches do not: claimed keys, in-flight occurrences, checkpoint."""
        for key in claimed:
            stored = self.get(key)
            if stored is not None:
                self.claimed[key] = record.entry(stored, len(key))
        for held in inflight:
            self.inflight[record.entry(held.record, record.key_length(held.record))] = held
        self._rebuild_leases()
        self.checkpoint = checkpoint

    def rebuild_due(self) -> None:
        """Rebuild the due index from the records and the claimed keys (after a damaged
        snapshot, whose due blocks cannot be trusted to match the records kept)."""
        self.by_due = SortedSeq()
        self.by_due.extend_sorted(sorted(
            record.entry(rec, key_length) for rec in self.by_key
            for key_length in (record.key_length(rec),)
            if rec[:key_length] not in self.claimed))
