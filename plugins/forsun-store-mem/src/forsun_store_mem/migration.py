"""``forsund migrate`` reading or writing a mem store's files as streams, so that its memory
does not grow with the number of plans (the store itself holds every plan in memory).

As a SRC: the part of ``FILE.log`` after the snapshot is read first into a map of the keys
it changed (bounded by compaction, ``--driver-mem-store-compact-size``), then
``FILE.snapshot`` is streamed block by block, skipping those keys, then the plans the log
left are read from the map. The files are read as recovery reads them (:mod:`.recovery`),
but nothing damaged is skipped: damage raises :class:`EndpointError` naming the file and
offset (a torn log tail, which any crash may leave, is dropped with a warning, as forsund
does). Nothing is written.

As a DST holding no plans yet (no ``FILE.snapshot``, no log frame): the plans are sorted
by key in bounded memory (:mod:`.runs`) and written as a snapshot that forsund loads, with
an empty log beside it. A DST that holds plans is written by opening the store (see
:func:`endpoint`).

Both hold ``FILE.lock`` while they work, so a running forsund makes them fail, and they
make a forsund starting on the same files fail.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

from forsun.migrate.endpoints import PAGE, EndpointError, Sink, Skipped
from forsun.plan import Plan, validated_list

from . import log as logfile
from . import ops, record, snapshot
from .errors import JournalError
from .journal import lock, refuse_original_dump
from .log import fsync_dir
from .runs import SortedRuns

log = logging.getLogger(__name__)


def endpoint(url: str, options: Any, sink: bool) -> Sink | None:
    """The streaming endpoint for ``mem:PATH``, or None (open the store) when it is a DST
    that holds plans already, has no file, or recovery of damage was asked for."""
    path = str(options.get("driver_mem_store_file") or "")
    if not path or options.get("driver_mem_store_recover"):
        return None
    files = MemFiles(url, path, sink)
    if sink and files.holds_plans():
        return None
    return files


class MemFiles(Sink):
    """The files of the mem store ``path`` as a SRC or (when ``sink``) an empty DST, whose
    snapshot is written as the migration ends."""

    stores_at_end = True

    def __init__(self, url: str, path: str, sink: bool) -> None:
        super().__init__(url)
        self.path = os.path.abspath(path)
        self.sink = sink
        self.snapshot_path = self.path + ".snapshot"
        self.log_path = self.path + ".log"
        self._lock_fd: int | None = None
        #: SRC: key -> the record the log left (None: removed)
        self._changed: dict[bytes, bytes | None] = {}
        #: DST: the records written, to be sorted into the snapshot
        self._runs: SortedRuns | None = None
        self._written: int | None = None

    def holds_plans(self) -> bool:
        """Whether the files may hold a plan (a snapshot, or a log longer than its
        header)."""
        return os.path.exists(self.snapshot_path) or (
            os.path.exists(self.log_path)
            and os.path.getsize(self.log_path) > logfile.HEADER.size)

    async def open(self) -> None:
        try:
            refuse_original_dump(self.path)
            directory = os.path.dirname(self.path)
            if self.sink:
                os.makedirs(directory, exist_ok=True)
            if os.path.isdir(directory):
                self._lock_fd = lock(self.path)
        except (JournalError, OSError) as exc:
            raise EndpointError(f"{self.url}: {exc}") from None
        if self.sink:
            if self.holds_plans():  # written since endpoint() looked
                raise EndpointError(f"{self.url}: {self.path} holds plans now; run again")
            self._runs = SortedRuns(directory, key=_key)
        else:
            self._changed = self._read_log()

    async def close(self) -> None:
        try:
            if self._runs is not None:
                self._finish()
        finally:
            if self._runs is not None:
                self._runs.close()
                self._runs = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    # -- SRC -----------------------------------------------------------------------------

    def _read_log(self) -> dict[bytes, bytes | None]:
        """What the log changed after the snapshot, by key; the same rules as
        :func:`.recovery._read`, damage raised."""
        has_snapshot = os.path.exists(self.snapshot_path)
        generation: int | None = None
        offset = logfile.HEADER.size
        if has_snapshot:
            try:
                generation, offset = snapshot.read_header(self.snapshot_path)
            except snapshot.SnapshotError as exc:
                raise EndpointError(f"{self.url}: {exc}") from None
        header = logfile.read_header(self.log_path)
        if header is None:
            if has_snapshot:
                raise EndpointError(f"{self.url}: {self.log_path} is missing or shorter than "
                                    f"its header but {self.snapshot_path} says it holds the "
                                    f"changes made after it (damaged: start forsund on it "
                                    f"once with --driver-mem-store-recover)")
            return {}
        magic, log_generation = header
        if magic != logfile.MAGIC:
            raise EndpointError(f"{self.url}: {self.log_path} is damaged: its header (offset "
                                f"0) is not a log header")
        if generation is None:
            if log_generation != 0:
                raise EndpointError(f"{self.url}: {self.snapshot_path} is missing but "
                                    f"{self.log_path} (generation {log_generation}) "
                                    f"follows one")
            offset = logfile.HEADER.size
        elif log_generation == generation + 1:
            offset = logfile.HEADER.size
        elif log_generation != generation:
            raise EndpointError(f"{self.url}: {self.log_path} has generation "
                                f"{log_generation}, expected {generation} or "
                                f"{generation + 1}: it does not belong with "
                                f"{self.snapshot_path}")
        elif os.path.getsize(self.log_path) < offset:
            return {}  # a log started anew after the snapshot (as recovery does)
        changed: dict[bytes, bytes | None] = {}
        scan = logfile.scan(self.log_path, offset, ops.KINDS,
                            lambda kind, payload: _note(changed, kind, payload))
        if scan.damaged:
            first = scan.damaged[0]
            raise EndpointError(f"{self.url}: {self.log_path} is damaged: {first.size} bytes "
                                f"between offsets {first.start} and {first.end} cannot be "
                                f"read ({len(scan.damaged)} damaged region(s))")
        if scan.torn:
            log.warning("%s: ignored %d bytes after the last intact record at offset %d "
                        "(the end of a write torn by a crash)", self.log_path, scan.torn,
                        scan.end)
        return changed

    async def total(self, prefix: str) -> int | None:
        """Counted by reading the snapshot's records once more (no decoding)."""
        if self.sink:
            return None
        return sum([len(batch) async for batch in self._records(prefix)])

    async def pages(self, prefix: str) -> AsyncIterator[list[Plan | Skipped]]:
        page: list[Plan | Skipped] = []
        async for batch in self._records(prefix):
            page += map(record.decode, batch)
            if len(page) >= PAGE:
                yield page
                page = []
        if page:
            yield page

    async def _records(self, prefix: str) -> AsyncIterator[list[bytes]]:
        """The records of the plans under ``prefix``: the snapshot's whose key the log did
        not change, then those the log left."""
        raw = prefix.encode("utf-8", "surrogatepass")
        changed = self._changed
        if os.path.exists(self.snapshot_path):
            try:
                for batch in snapshot.iter_records(self.snapshot_path):
                    yield [rec for rec in batch
                           if rec.startswith(raw) and _key(rec) not in changed]
            except snapshot.SnapshotError as exc:
                raise EndpointError(f"{self.url}: {exc}") from None
        left = [rec for key, rec in sorted(changed.items())
                if rec is not None and key.startswith(raw)]
        for start in range(0, len(left), PAGE):
            yield left[start:start + PAGE]

    # -- DST -----------------------------------------------------------------------------

    async def write(self, plans: list[Plan]) -> None:
        assert self._runs is not None, "not open"
        self._runs.add([record.encode(plan) for plan in validated_list(plans)])

    async def existing(self, keys: list[str]) -> set[str] | None:
        """None of them: the files held no plan when opened (a key the source yields twice
        shows as a count that disagrees)."""
        return set()

    async def count(self, prefix: str) -> int | None:
        """0 before writing; after, the plans of the snapshot (written here, as the
        migration ends)."""
        if self._written is None and self._runs is not None and self._runs.added:
            self._finish()
        return self._written or 0

    def _finish(self) -> None:
        """Write the snapshot of every plan written (the last of equal keys wins) and an
        empty log after it; once."""
        if self._written is not None or self._runs is None:
            return
        writer = snapshot.StreamWriter(self.snapshot_path, 0, logfile.HEADER.size)
        entries = SortedRuns(self._runs.directory)
        try:
            batch: list[bytes] = []
            due: list[bytes] = []
            for rec in _last_of_each_key(self._runs.merged()):
                batch.append(rec)
                due.append(record.entry(rec, record.key_length(rec)))
                if len(batch) == snapshot.BATCH:
                    writer.records(batch)
                    entries.add(due)
                    batch, due = [], []
            if batch:
                writer.records(batch)
                entries.add(due)
            batch = []
            for entry in entries.merged():
                batch.append(entry)
                if len(batch) == snapshot.BATCH:
                    writer.entries(batch)
                    batch = []
            if batch:
                writer.entries(batch)
            # the empty log first: a crash before the snapshot is in place leaves an
            # empty store, not a snapshot without its log
            _empty_log(self.log_path)
            writer.finish()
        except BaseException:
            writer.abort()
            raise
        finally:
            entries.close()
        self._written = writer.record_count


def _key(rec: bytes) -> bytes:
    return rec[:rec.index(0)]


def _note(changed: dict[bytes, bytes | None], kind: int, payload: bytes) -> None:
    """Note what one log frame did to the plans by key (claims, acks, leases and
    checkpoints change no plan record: a migration writes claimed plans waiting)."""
    if kind == ops.PUT:
        changed[_key(payload)] = payload
    elif kind == ops.PUTS:
        for rec in ops.unbatch(payload):
            changed[_key(rec)] = rec
    elif kind == ops.REMOVE:
        changed[payload] = None


def _last_of_each_key(records: Iterator[bytes]) -> Iterator[bytes]:
    """``records`` sorted by key, keeping only the last of equal keys."""
    held: bytes | None = None
    held_key = b""
    for rec in records:
        key = _key(rec)
        if held is not None and key != held_key:
            yield held
        held, held_key = rec, key
    if held is not None:
        yield held


def _empty_log(path: str) -> None:
    """Put a log of generation 0 holding only its header at ``path`` (atomically)."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(logfile.header(0))
        f.flush()
        os.fsync(f.fileno())
    try:
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path)
