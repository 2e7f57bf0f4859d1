"""The files behind a mem store with ``--driver-mem-store-file=FILE``: recovery, logging
with an fsync policy, and compaction.

Files:

- ``FILE.log`` — the append-only log of every mutation since the snapshot (:mod:`.log`).
- ``FILE.snapshot`` — the compacted state (:mod:`.snapshot`).
- ``FILE.lock`` — locked with ``flock`` while a process uses FILE (two writers would
  corrupt the log); it holds the owner's pid.
- ``FILE.snapshot.tmp``, ``FILE.log.tmp`` — exist only while a snapshot or a log is
  written; leftovers of a crash are deleted at start-up.
- ``FILE.log.damaged-<time>``, ``FILE.snapshot.damaged-<time>`` — damaged files as they
  were, kept when recovery skipped their damage (:mod:`.recovery`).

Recovery (:mod:`.recovery`): load the snapshot, which names a log generation ``g`` and an
offset ``X``; replay ``FILE.log`` from ``X`` if its generation is ``g``, or whole if it is
``g + 1`` (rewritten after the snapshot). A torn tail is cut off with a warning; damage
stops the start unless ``skip_damage`` (``--driver-mem-store-recover``) is set, and then
the files are compacted at once, so clean ones replace those set aside.

Compaction (when the log grew by ``compact_size`` bytes since the snapshot, and at close):
freeze the table at the log's end ``X`` (copy-on-write, O(n / 1000)), write the snapshot
``(g, X)`` in a thread, copy the log from ``X`` into ``FILE.log.tmp`` (generation ``g + 1``)
and rename it over ``FILE.log``. The store keeps serving throughout; only copying the few
bytes appended meanwhile and the rename happen on the event loop. A crash at any point
leaves files that recover to the same state.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

from forsun.tasks import cancel

from . import log as logfile
from . import recovery, snapshot
from .errors import JournalError
from .log import LogWriter, fsync_dir
from .table import PlanTable

log = logging.getLogger(__name__)

FSYNC_POLICIES = ("always", "everysec", "no")
#: After a failed compaction, wait this long before trying again.
RETRY_COMPACTION = 60.0


class Journal:
    """Durability for one :class:`PlanTable`. :meth:`open` fills the table and begins the
    periodic work, :meth:`close` compacts and releases."""

    def __init__(self, path: str, fsync: str, compact_size: int,
                 skip_damage: bool = False) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"--driver-mem-store-fsync: {fsync!r} is not one of "
                             f"{', '.join(FSYNC_POLICIES)}")
        self.path = os.path.abspath(path)
        self.fsync = fsync
        self.compact_size = compact_size
        #: start despite damage, keeping every intact record (``--driver-mem-store-recover``)
        self.skip_damage = skip_damage
        self.log_path = self.path + ".log"
        self.snapshot_path = self.path + ".snapshot"
        self.lock_path = self.path + ".lock"
        self.snapshot_size = 0
        self.compactions = 0
        self.compaction_seconds = 0.0
        self._generation = 0  # of FILE.log
        self._log_base = logfile.HEADER.size  # FILE.log offset where the snapshot ends
        self._writer: LogWriter | None = None
        self._lock_fd: int | None = None
        self._sync_executor = ThreadPoolExecutor(1, thread_name_prefix="forsun-mem-fsync")
        self._work_executor = ThreadPoolExecutor(1, thread_name_prefix="forsun-mem-compact")
        self._ticker: asyncio.Task[None] | None = None
        self._compacting: asyncio.Task[None] | None = None
        self._failed_at: float | None = None

    @property
    def writer(self) -> LogWriter:
        assert self._writer is not None, "journal not recovered"
        return self._writer

    @property
    def log_bytes(self) -> int:
        """Log bytes not yet in the snapshot."""
        return self.writer.file_size - self._log_base

    # -- start-up ------------------------------------------------------------------------

    async def open(self, table: PlanTable) -> None:
        """Lock the files, load them into the empty ``table`` (:mod:`.recovery`; damage is
        refused unless ``skip_damage``), write clean files when damage was skipped, and
        begin the periodic work. Raises :class:`JournalError` when the files cannot be
        used."""
        refuse_original_dump(self.path)
        loop = asyncio.get_running_loop()
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._lock()
            repaired = await loop.run_in_executor(None, self._recover, table)
            if repaired:
                await self.compact(table)
        except BaseException as exc:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            self._unlock()
            if isinstance(exc, OSError):
                raise JournalError(f"cannot open {self.path}: {exc}") from exc
            raise
        self._ticker = asyncio.create_task(self._tick(table), name="forsun-mem-journal")

    def _recover(self, table: PlanTable) -> bool:
        """Load the files (blocking); True when damage was skipped."""
        started = time.monotonic()
        for stale in (self.snapshot_path + ".tmp", self.log_path + ".tmp"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        recovered = recovery.recover(self.log_path, self.snapshot_path, table,
                                     self._sync_executor, allow_damage=self.skip_damage)
        self._writer = recovered.writer
        self._generation = recovered.generation
        self._log_base = recovered.log_base
        with contextlib.suppress(FileNotFoundError):
            self.snapshot_size = os.path.getsize(self.snapshot_path)
        fsync_dir(self.log_path)
        if self.skip_damage and not recovered.repaired:
            log.warning("--driver-mem-store-recover is set but %s has no damage to skip; "
                        "remove the option so that damage found later stops forsund "
                        "instead of being skipped", self.path)
        log.info("mem store %s (fsync %s): %d plans, %d in flight, recovered in %.1fs "
                 "(snapshot %.1f MiB, %d log records)", self.path, self.fsync, len(table),
                 len(table.inflight), time.monotonic() - started, self.snapshot_size / 2**20,
                 recovered.records)
        return recovered.repaired

    def _lock(self) -> None:
        self._lock_fd = lock(self.path)

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- writing -------------------------------------------------------------------------

    def append(self, data: bytes) -> None:
        """Log frames; they reach the kernel before this returns."""
        self.writer.append(data)

    async def commit(self) -> None:
        """Wait until the appended frames are as durable as the fsync policy promises."""
        if self.fsync == "always":
            await self.writer.commit()

    async def _tick(self, table: PlanTable) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                # under "always" this syncs what the engine logged without waiting
                if self.fsync != "no" and self.writer.dirty:
                    await self.writer.commit()
            except OSError:
                log.exception("fsync of %s failed", self.log_path)
            if self._compaction_due():
                self._compacting = asyncio.create_task(self._compact_logged(table),
                                                       name="forsun-mem-compact")

    def _compaction_due(self) -> bool:
        if self._compacting is not None and not self._compacting.done():
            return False
        if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_COMPACTION:
            return False
        return self.log_bytes > 0 and self.log_bytes >= self.compact_size

    # -- compaction ----------------------------------------------------------------------

    async def _compact_logged(self, table: PlanTable) -> None:
        try:
            await self.compact(table)
        except Exception:
            self._failed_at = time.monotonic()
            log.exception("compaction of %s failed; the log keeps growing, retrying in %.0fs",
                          self.path, RETRY_COMPACTION)

    async def compact(self, table: PlanTable) -> None:
        """Write a snapshot of ``table`` and cut the log down to what followed it."""
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        writer = self.writer
        generation, offset = self._generation, writer.file_size
        frozen = table.freeze()
        try:
            size = await loop.run_in_executor(self._work_executor, snapshot.write,
                                              self.snapshot_path, frozen, generation, offset)
        finally:
            table.thaw()
        self.snapshot_size = size
        self._log_base = offset
        tmp = self.log_path + ".tmp"
        fd, copied = await loop.run_in_executor(self._work_executor, _start_log_copy,
                                                self.log_path, tmp, generation + 1, offset,
                                                writer.file_size)
        try:
            await writer.idle()
            # No await from here on: nothing is appended while the files are switched.
            _copy(self.log_path, fd, copied, writer.file_size)
            os.fsync(fd)
            os.replace(tmp, self.log_path)
            fsync_dir(self.log_path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        writer.swap(fd, logfile.HEADER.size + writer.file_size - offset)
        self._generation = generation + 1
        self._log_base = logfile.HEADER.size
        self._failed_at = None
        self.compactions += 1
        self.compaction_seconds = time.monotonic() - started
        log.info("compacted %s: %d plans, snapshot %.1f MiB in %.1fs", self.path,
                 frozen.record_count, size / 2**20, self.compaction_seconds)

    # -- shutdown ------------------------------------------------------------------------

    async def close(self, table: PlanTable) -> None:
        """Stop the periodic work, compact if the log holds anything, fsync, unlock."""
        await cancel(self._ticker)
        if self._compacting is not None:
            with contextlib.suppress(Exception):
                await self._compacting
        try:
            if self._writer is not None and self.log_bytes > 0:
                try:
                    await self.compact(table)
                except Exception:
                    log.exception("compaction of %s at shutdown failed; the log is kept",
                                  self.path)
        finally:
            if self._writer is not None:
                await self._writer.idle()
                self._writer.sync()
                self._writer.close()
                self._writer = None
            self._unlock()
            self._sync_executor.shutdown()
            self._work_executor.shutdown()

    def info(self) -> dict[str, str]:
        return {
            "mem_store_file": self.path,
            "mem_store_fsync": self.fsync,
            "mem_store_log_bytes": str(self.writer.file_size if self._writer else 0),
            "mem_store_snapshot_bytes": str(self.snapshot_size),
            "mem_store_compactions": str(self.compactions),
            "mem_store_last_compaction_seconds": f"{self.compaction_seconds:.3f}",
            "mem_store_fsyncs": str(self._writer.fsyncs if self._writer else 0),
        }


def lock(path: str) -> int:
    """Lock ``path.lock`` for this process (``flock``, released when the returned
    descriptor is closed) and write its pid in it; :class:`JournalError` when another
    process holds it."""
    lock_path = path + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise JournalError(f"{path} is in use by another forsund (pid {holder}; "
                           f"lock {lock_path}): stop it, or give this one other "
                           f"files with --driver-mem-store-file") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def refuse_original_dump(path: str) -> None:
    """Raise :class:`JournalError` when ``path`` itself is the original forsun's dump file:
    starting would serve no plan on top of the user's old ones (its files are ``path.*``)."""
    from forsun.migrate.forsun0 import is_original_dump

    if is_original_dump(path):
        new = os.path.splitext(path)[0] + ".db"
        raise JournalError(f"{path} is a dump of the original forsun 0.1.4, which this "
                           f"store does not read; move its plans with: forsund migrate "
                           f"forsun0:{path} mem:{new} (then start with "
                           f"--driver-mem-store-file={new})")


def _start_log_copy(path: str, tmp: str, generation: int, start: int, end: int
                    ) -> tuple[int, int]:
    """Create ``tmp`` as a log of ``generation`` holding ``path[start:end]``; return its
    open descriptor and ``end``."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, logfile.header(generation))
        _copy(path, fd, start, end)
    except BaseException:
        os.close(fd)
        raise
    return fd, end


def _copy(path: str, fd: int, start: int, end: int) -> None:
    """Append ``path[start:end]`` to ``fd``."""
    with open(path, "rb") as src:
        src.seek(start)
        remaining = end - start
        while remaining > 0:
            chunk = src.read(min(remaining, 8 << 20))
            if not chunk:
                raise OSError(f"{path} is shorter than expected")
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            remaining -= len(chunk)
