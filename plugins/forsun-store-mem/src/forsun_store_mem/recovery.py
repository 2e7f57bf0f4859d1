"""Reading a mem store's files back at start-up: what a crash may leave, and what is damage.

:func:`recover` loads ``FILE.snapshot`` and replays ``FILE.log`` into an empty table. The
snapshot names a log generation ``g`` and an offset ``X``: ``FILE.log`` is replayed from
``X`` if its generation is ``g``, or whole if it is ``g + 1`` (rewritten after the snapshot).

- A **torn tail** of the log, the end of the last write that a crash cut short
  (:func:`.log.scan`), is dropped with a warning: every crash may leave one.
- **Damage** is everything else that cannot be read: damaged log bytes with intact frames
  after them, a whole last frame with a wrong checksum, damaged snapshot blocks or header,
  a log missing while a snapshot says it exists, a snapshot missing while the log's
  generation says one exists. It stops the start with a :class:`JournalError` that says
  what recovering would lose, unless ``allow_damage``: then every intact frame and block is
  kept, each damaged file is set aside as ``NAME.damaged-<time>`` (a hard link: its bytes
  stay as they were) and a warning says what was skipped. The caller then compacts, which
  writes clean files in their place.
- Files that do not belong together (a log whose generation is neither ``g`` nor ``g + 1``)
  are refused whatever the option: that is a mix-up of backups, not damage.

Nothing is written before the decision to start is taken.
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
import time
from concurrent.futures import Executor

import attrs

from . import log as logfile
from . import ops, snapshot
from .errors import JournalError
from .log import LogWriter, fsync_dir
from .progress import Progress
from .resync import Region
from .table import PlanTable

log = logging.getLogger(__name__)

RECOVER_FLAG = "--driver-mem-store-recover"


@attrs.frozen
class Damage:
    """One damaged (or missing) file: ``problem`` completes "PATH ...", ``outcome`` says
    what starting anyway keeps and loses."""

    path: str
    problem: str
    outcome: str


@attrs.frozen
class Recovered:
    """The log to append to after recovery; ``repaired`` when damage was skipped (the
    caller must then write clean files)."""

    writer: LogWriter
    generation: int
    log_base: int
    records: int
    repaired: bool


@attrs.frozen
class _Found:
    """What reading the files found; ``log_end`` None means "start a new log"."""

    generation: int
    log_base: int
    log_end: int | None
    records: int
    torn: int
    damage: tuple[Damage, ...]


def recover(log_path: str, snapshot_path: str, table: PlanTable, executor: Executor, *,
            allow_damage: bool) -> Recovered:
    """Fill the empty ``table`` from the files; raise :class:`JournalError` on damage
    unless ``allow_damage`` (see the module docstring)."""
    found = _read(log_path, snapshot_path, table)
    if found.damage and not allow_damage:
        raise JournalError(
            "; ".join(f"{d.path} {d.problem}: with {RECOVER_FLAG} {d.outcome}"
                      for d in found.damage)
            + f". To start anyway, run forsund once with {RECOVER_FLAG} (INI: "
            "mem_store_recover = true under [store]); it keeps each damaged file as "
            "NAME.damaged-<time>")
    for damage in found.damage:
        kept = (f"; the damaged file is kept as {_set_aside(damage.path)}"
                if os.path.exists(damage.path) else "")
        log.warning("%s %s; recovered with %s: %s%s", damage.path, damage.problem,
                    RECOVER_FLAG, damage.outcome, kept)
    if found.torn:
        log.warning("%s: dropped %d bytes after the last intact record at offset %d (the "
                    "end of a write torn by a crash)", log_path, found.torn, found.log_end)
    if found.log_end is None:
        writer = LogWriter.create(log_path, found.generation, executor)
    else:
        writer = LogWriter.reopen(log_path, found.log_end, executor)
    return Recovered(writer, found.generation, found.log_base, found.records,
                     repaired=bool(found.damage))


def _read(log_path: str, snapshot_path: str, table: PlanTable) -> _Found:
    damage: list[Damage] = []
    loaded = _load_snapshot(snapshot_path, table, damage)
    header = logfile.read_header(log_path)
    if header is None:
        return _without_log(log_path, snapshot_path, loaded, damage)
    magic, generation = header
    start = logfile.HEADER.size
    if loaded is not None:
        if generation == loaded.generation:
            start = loaded.offset
            if os.path.getsize(log_path) < start:
                log.warning("%s is shorter than %s says it was; starting a new log (the "
                            "snapshot holds everything it had)", log_path, snapshot_path)
                return _Found(generation + 1, logfile.HEADER.size, None, 0, 0, tuple(damage))
        elif generation != loaded.generation + 1:
            raise JournalError(
                f"{log_path} has generation {generation}, expected {loaded.generation} or "
                f"{loaded.generation + 1}: it does not belong with {snapshot_path}; restore "
                f"both files from the same backup, or move one aside and start once with "
                f"{RECOVER_FLAG} to start from the other alone")
    elif generation != 0 and not damage:  # (a damaged snapshot header is reported already)
        damage.append(Damage(snapshot_path, f"is missing but {log_path} (generation "
                                            f"{generation}) follows one",
                             "forsund starts from the log alone; the plans not changed "
                             "since the last compaction are lost"))
    size = os.path.getsize(log_path)
    with Progress(f"replaying {log_path}", size - start) as progress:
        scan = logfile.scan(log_path, start, ops.KINDS,
                            lambda kind, payload: ops.replay(table, kind, payload),
                            lambda done: progress.update(done - start))
    regions = list(scan.damaged)
    after = scan.frames_after_damage
    if magic != logfile.MAGIC:
        regions.insert(0, Region(0, len(logfile.MAGIC)))
        after = scan.frames
    if regions:  # kept whole (set aside), so the writer appends after all of it
        damage.append(_log_damage(log_path, regions, after))
        return _Found(generation, start, size, scan.frames, 0, tuple(damage))
    return _Found(generation, start, scan.end, scan.frames, scan.torn, tuple(damage))


def _load_snapshot(path: str, table: PlanTable, damage: list[Damage]
                   ) -> snapshot.Loaded | None:
    """Load the snapshot if there is one, noting its damage; None when there is none or
    its header is not one."""
    if not os.path.exists(path):
        return None
    try:
        with Progress(f"loading {path}", os.path.getsize(path)) as progress:
            loaded = snapshot.read(path, table, progress.update)
    except snapshot.SnapshotError:
        damage.append(Damage(path, "is damaged: its header (offset 0) is not a snapshot "
                                   "header",
                             "it is set aside and forsund starts from the log alone; the "
                             "plans only it held are lost"))
        return None
    if loaded.damage:
        damage.append(_snapshot_damage(path, loaded))
    return loaded


def _without_log(log_path: str, snapshot_path: str, loaded: snapshot.Loaded | None,
                 damage: list[Damage]) -> _Found:
    """No log, or one shorter than its header (it holds nothing): a fresh start, unless a
    snapshot says the log held the changes made after it."""
    if loaded is None:
        return _Found(0, logfile.HEADER.size, None, 0, 0, tuple(damage))
    missing = "is shorter than its header" if os.path.exists(log_path) else "is missing"
    damage.append(Damage(log_path, f"{missing} but {snapshot_path} (generation "
                                   f"{loaded.generation}) says it holds the changes made "
                                   "after it",
                         f"forsund starts from the snapshot alone ({loaded.plans} plans); "
                         "the changes logged after it are lost"))
    return _Found(loaded.generation + 1, logfile.HEADER.size, None, 0, 0, tuple(damage))


def _log_damage(path: str, regions: list[Region], after: int) -> Damage:
    if after:
        return Damage(path, f"is damaged: {_describe(regions)} cannot be read and {after} "
                            "intact records follow",
                      f"the changes in those bytes are lost and the {after} intact records "
                      "after them kept")
    return Damage(path, f"is damaged at its end: {_describe(regions)} cannot be read, and "
                        "they are not a write torn by a crash (a whole record whose checksum "
                        "does not match)",
                  "the changes in those bytes are lost")


def _snapshot_damage(path: str, loaded: snapshot.Loaded) -> Damage:
    problems = [f"{_describe(loaded.damaged)} cannot be read"] if loaded.damaged else []
    if not loaded.complete:
        problems.append("its end block is missing")
    keys = ", ".join(_key_range(after, before) for after, before in loaded.lost_keys[:3])
    where = f" ({keys})" if keys else ""
    if loaded.expected is None:
        outcome = (f"its {loaded.plans} intact plans are kept; how many were lost is unknown "
                   f"(its end block is lost too){where}")
    elif loaded.expected > loaded.plans:
        outcome = (f"{loaded.expected - loaded.plans} of its {loaded.expected} plans are "
                   f"lost{where} and the other {loaded.plans} kept")
    else:
        outcome = f"all its {loaded.plans} plans are kept"
    return Damage(path, f"is damaged: {' and '.join(problems)}",
                  outcome + "; its due index is rebuilt from them and occurrences it held "
                            "in flight may fire again")


def _describe(regions: list[Region] | tuple[Region, ...]) -> str:
    first = f"{regions[0].size} bytes between offsets {regions[0].start} and {regions[0].end}"
    if len(regions) == 1:
        return first
    return (f"{len(regions)} regions of {sum(r.size for r in regions)} bytes in all "
            f"(the first: {first})")


def _key_range(after: bytes | None, before: bytes | None) -> str:
    if after is None and before is None:
        return "any key"
    if before is None:
        return f"keys after {_text(after)}"
    if after is None:
        return f"keys before {_text(before)}"
    return f"keys between {_text(after)} and {_text(before)}"


def _text(key: bytes | None) -> str:
    return repr((key or b"").decode("utf-8", "replace"))


def _set_aside(path: str) -> str:
    """Link ``path`` to ``path.damaged-<time>`` (so later writes never change those bytes),
    unless an earlier attempt that failed did; return that name."""
    for earlier in glob.glob(glob.escape(path) + ".damaged-*"):
        if os.path.samefile(earlier, path):
            return earlier
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = f"{path}.damaged-{stamp}"
    for number in itertools.count(1):
        try:
            os.link(path, aside)
            break
        except FileExistsError:
            aside = f"{path}.damaged-{stamp}-{number}"
    fsync_dir(aside)
    return aside
