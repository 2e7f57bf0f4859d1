"""The append-only log file: framing, writing with an fsync policy, and reading back.

A log file is a 16-byte header (``FSNLOG01`` and its generation, ``<Q``) followed by frames
``<I payload length> <I crc32 of kind + payload> <B kind> payload``.

:func:`scan` reads every intact frame. After a frame that is not intact it resynchronises
on the next intact one (:mod:`.resync`) and reports the bytes in between as damaged. What
follows the last intact frame is the *tail*: it is *torn*, the end of a write that a crash
cut short, when a crash can leave it (:func:`_torn`), and damaged otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import os
import struct
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Executor

import attrs

from .resync import Region, kind_pattern, next_intact

MAGIC = b"FSNLOG01"
HEADER = struct.Struct("<8sQ")
FRAME = struct.Struct("<IIB")
#: Resynchronising, a longer frame is not taken for data. The longest forsun writes: a put
#: of the largest valid plan (about 1 MiB), a bulk frame (8 MiB and one plan), a claim
#: (10 000 occurrences of the longest key, 10 MiB). Checking a candidate costs up to this
#: many bytes of CRC: skipping random garbage takes about 1 s per MiB (zeros cost nothing).
MAX_PAYLOAD = 1 << 25
#: The unit a disk writes whole; a machine crash leaves whole sectors unwritten.
SECTOR = 512
_KIND_CRC = [zlib.crc32(bytes([kind])) for kind in range(256)]
_KIND_AT = 8
_REPORT_EVERY = 8 << 20


def frame(kind: int, payload: bytes) -> bytes:
    return b"".join((FRAME.pack(len(payload), zlib.crc32(payload, _KIND_CRC[kind]), kind),
                     payload))


def header(generation: int) -> bytes:
    return HEADER.pack(MAGIC, generation)


def read_header(path: str) -> tuple[bytes, int] | None:
    """``(magic, generation)`` of ``path``; None when the file is missing or shorter than
    a header (it holds no frame)."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER.size)
    except FileNotFoundError:
        return None
    if len(head) < HEADER.size:
        return None
    magic, generation = HEADER.unpack(head)
    return magic, generation


@attrs.frozen
class Scan:
    """What :func:`scan` read: ``frames`` intact frames, the last one ending at ``end``;
    ``damaged`` regions were skipped (the last one reaches ``size`` when the tail is
    damage rather than torn); ``frames_after_damage`` intact frames follow the first."""

    frames: int
    end: int
    size: int
    damaged: tuple[Region, ...] = ()
    frames_after_damage: int = 0

    @property
    def torn(self) -> int:
        """Bytes of a torn tail after ``end`` (0 when there is none or it is damage)."""
        if self.damaged and self.damaged[-1].end == self.size:
            return 0
        return self.size - self.end


def scan(path: str, start: int, kinds: Iterable[int], on_frame: Callable[[int, bytes], None],
         on_progress: Callable[[int], None] | None = None) -> Scan:
    """Call ``on_frame(kind, payload)`` for every intact frame from file offset ``start``
    (just after the header at least) to the end, skipping damaged bytes; ``kinds`` are the
    frame kinds that exist (resynchronising requires one)."""
    size = os.path.getsize(path)
    start = max(start, HEADER.size)
    if size <= start:
        return Scan(frames=0, end=start, size=size)
    pattern = kind_pattern(kinds)
    damaged: list[Region] = []
    frames = frames_before_damage = 0
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        buf.madvise(mmap.MADV_SEQUENTIAL)
        pos, report = start, start + _REPORT_EVERY
        while pos + FRAME.size <= size:
            length, crc, kind = FRAME.unpack_from(buf, pos)
            stop = pos + FRAME.size + length
            if stop <= size:
                payload = buf[pos + FRAME.size:stop]
                if zlib.crc32(payload, _KIND_CRC[kind]) == crc:
                    on_frame(kind, payload)
                    frames += 1
                    pos = stop
                    if on_progress is not None and pos >= report:
                        on_progress(pos)
                        report = pos + _REPORT_EVERY
                    continue
            found = next_intact(buf, pos + 1, pattern, _KIND_AT,
                                lambda at: _intact(buf, at, size))
            if found is None:
                break
            if not damaged:
                frames_before_damage = frames
            damaged.append(Region(pos, found))
            pos = found
        if pos < size and not _torn(buf, pos, size):
            if not damaged:
                frames_before_damage = frames
            damaged.append(Region(pos, size))
    return Scan(frames=frames, end=pos, size=size, damaged=tuple(damaged),
                frames_after_damage=frames - frames_before_damage if damaged else 0)


def _intact(buf: mmap.mmap, pos: int, size: int) -> bool:
    """Whether a whole frame whose checksum matches starts at ``pos``."""
    if pos + FRAME.size > size:
        return False
    length, crc, kind = FRAME.unpack_from(buf, pos)
    stop = pos + FRAME.size + length
    return (length <= MAX_PAYLOAD and stop <= size
            and zlib.crc32(memoryview(buf)[pos + FRAME.size:stop], _KIND_CRC[kind]) == crc)


def _torn(buf: mmap.mmap, pos: int, size: int) -> bool:
    """Whether the bytes from ``pos`` to the end, holding no intact frame, are what a crash
    leaves of the last write: a frame the end of the file cuts short (a write the process
    or the machine did not finish), or one whose bytes from a disk sector on are zeros
    (sectors allocated but never written when the machine stopped). A whole frame with a
    wrong checksum is neither: no crash produces it, it is damage."""
    if size - pos < FRAME.size:
        return True
    length, crc, kind = FRAME.unpack_from(buf, pos)
    stop = pos + FRAME.size + length
    if stop > size:  # cut short, unless a damaged length hides a whole frame
        return zlib.crc32(memoryview(buf)[pos + FRAME.size:], _KIND_CRC[kind]) != crc
    zeros = _zeros_from(buf, pos, size)
    return zeros <= pos or -(-zeros // SECTOR) * SECTOR < stop


def _zeros_from(buf: mmap.mmap, start: int, size: int) -> int:
    """Where the run of zero bytes that ends the file begins (``size`` if there is none),
    not before ``start``."""
    end = size
    while end > start:
        low = max(start, end - (1 << 16))
        kept = len(buf[low:end].rstrip(b"\0"))
        if kept:
            return low + kept
        end = low
    return start


class LogWriter:
    """Appends frames to an open log file and makes them durable.

    :meth:`append` hands the bytes to the kernel before it returns, so a killed process
    loses nothing appended; only a machine crash loses what was not fsynced yet.
    :meth:`commit` waits until everything appended so far is fsynced; concurrent callers
    share one fsync (group commit). fsync runs on ``executor`` (one thread, so fsyncs stay
    in order). ``appended`` and ``synced`` count bytes since the writer was made and
    survive :meth:`swap`.
    """

    def __init__(self, fd: int, file_size: int, executor: Executor) -> None:
        self.fd = fd
        self.file_size = file_size
        self.appended = 0
        self.synced = 0
        self.fsyncs = 0
        self._executor = executor
        self._syncing: asyncio.Future[None] | None = None

    @classmethod
    def create(cls, path: str, generation: int, executor: Executor) -> LogWriter:
        """Write a new log file holding only its header, replacing ``path`` atomically
        (``path.tmp`` renamed over it, durable before it returns): a log file always has a
        whole header, and a file set aside under another name is never truncated."""
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, header(generation))
            os.fsync(fd)
            os.replace(tmp, path)
            fsync_dir(path)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return cls(fd, HEADER.size, executor)

    @classmethod
    def reopen(cls, path: str, end: int, executor: Executor) -> LogWriter:
        """Append to an existing log after offset ``end`` (dropping anything beyond)."""
        fd = os.open(path, os.O_WRONLY)
        try:
            if os.fstat(fd).st_size != end:
                os.ftruncate(fd, end)
                os.fsync(fd)
            os.lseek(fd, end, os.SEEK_SET)
        except OSError:
            os.close(fd)
            raise
        return cls(fd, end, executor)

    @property
    def dirty(self) -> bool:
        return self.synced < self.appended

    def append(self, data: bytes) -> None:
        """Write ``data`` to the file; on failure cut the file back so no torn frame stays
        in the middle of the log, and raise."""
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except OSError:
            try:
                os.ftruncate(self.fd, self.file_size)
                os.lseek(self.fd, self.file_size, os.SEEK_SET)
            except OSError:
                pass
            raise
        self.file_size += len(data)
        self.appended += len(data)

    async def commit(self) -> None:
        """Return once every byte appended before this call is fsynced."""
        target = self.appended
        while self.synced < target:
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._sync())
            await asyncio.shield(self._syncing)

    async def idle(self) -> None:
        """Return when no fsync is running."""
        while self._syncing is not None:
            await asyncio.shield(self._syncing)

    async def _sync(self) -> None:
        target = self.appended
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, os.fsync, self.fd)
            self.synced = max(self.synced, target)
            self.fsyncs += 1
        finally:
            self._syncing = None

    def sync(self) -> None:
        """fsync now, blocking (shutdown and compaction)."""
        os.fsync(self.fd)
        self.synced = self.appended
        self.fsyncs += 1

    def swap(self, fd: int, file_size: int) -> None:
        """Continue in another (fsynced) file that holds everything appended so far.
        Call only while :meth:`idle`."""
        os.close(self.fd)
        self.fd, self.file_size = fd, file_size
        self.synced = self.appended

    def close(self) -> None:
        os.close(self.fd)


def fsync_dir(path: str) -> None:
    """Make renames and creations in ``path``'s directory durable."""
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
