"""The append-only log file: framing, writing with an fsync policy, and reading back.

A log file is a 16-byte header (``FSNLOG01`` and its generation, ``<Q``) followed by frames
``<I payload length> <I crc32 of kind + payload> <B kind> payload``. A frame whose length
runs past the end of the file or whose checksum does not match ends the log: it is a write
torn by a crash (or damage), and :func:`scan` reports where the good part ends.
"""

from __future__ import annotations

import asyncio
import os
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import Executor

import attrs

MAGIC = b"FSNLOG01"
HEADER = struct.Struct("<8sQ")
FRAME = struct.Struct("<IIB")
#: A longer frame is damage, not data (a put of the largest valid plan is about 1 MiB).
MAX_PAYLOAD = 1 << 28
_KIND_CRC = [zlib.crc32(bytes([kind])) for kind in range(256)]
_READ_CHUNK = 8 << 20


class LogError(Exception):
    """A log file that is not a forsun mem store log."""


def frame(kind: int, payload: bytes) -> bytes:
    return b"".join((FRAME.pack(len(payload), zlib.crc32(payload, _KIND_CRC[kind]), kind),
                     payload))


def header(generation: int) -> bytes:
    return HEADER.pack(MAGIC, generation)


def read_generation(path: str) -> int | None:
    """The generation in ``path``'s header; None when the file is missing or its header was
    never completely written (an empty log)."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER.size)
    except FileNotFoundError:
        return None
    if len(head) < HEADER.size:
        return None
    magic, generation = HEADER.unpack(head)
    if magic != MAGIC:
        raise LogError(f"{path} is not a forsun mem store log (bad magic {magic!r})")
    return generation


@attrs.frozen
class Scan:
    """What :func:`scan` read: frames up to ``end`` are good; ``size`` is the file size."""

    frames: int
    end: int
    size: int

    @property
    def torn(self) -> int:
        """Bytes after the last good frame."""
        return self.size - self.end


def scan(path: str, start: int, on_frame: Callable[[int, bytes], None],
         on_progress: Callable[[int], None] | None = None) -> Scan:
    """Call ``on_frame(kind, payload)`` for every good frame from file offset ``start``
    (just after the header at least) until the end or the first bad frame."""
    size = os.path.getsize(path)
    start = max(start, HEADER.size)
    frames = 0
    with open(path, "rb") as f:
        f.seek(start)
        data = b""
        pos = 0
        base = start  # file offset of data[0]
        while True:
            avail = len(data) - pos
            if avail >= FRAME.size:
                length, crc, kind = FRAME.unpack_from(data, pos)
                if length > MAX_PAYLOAD:
                    break
                if avail >= FRAME.size + length:
                    payload = data[pos + FRAME.size:pos + FRAME.size + length]
                    if zlib.crc32(payload, _KIND_CRC[kind]) != crc:
                        break
                    on_frame(kind, payload)
                    frames += 1
                    pos += FRAME.size + length
                    continue
                needed = FRAME.size + length - avail
            else:
                needed = FRAME.size - avail
            more = f.read(max(_READ_CHUNK, needed))
            if not more:
                break
            base += pos
            data = data[pos:] + more
            pos = 0
            if on_progress is not None:
                on_progress(base)
    return Scan(frames=frames, end=base + pos, size=size)


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
        """Write a new log file holding only its header (durable before it returns)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, header(generation))
            os.fsync(fd)
        except OSError:
            os.close(fd)
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
