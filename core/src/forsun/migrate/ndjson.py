"""``ndjson:PATH`` (``ndjson:-``: stdin or stdout): one plan per line, a JSON object with the
fields of the HTTP API (:meth:`forsun.plan.Plan.to_dict`), schedule state included.

Read: a line that is not a JSON object, or a key already read on an earlier line, is skipped
with its line number (the earlier line is kept; duplicates are named after the other lines,
found by reading the file, or a copy of stdin, once more). Written: to ``PATH.tmp``, renamed over
``PATH`` when the migration ends, so an interrupted run leaves no half file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Any

import orjson

from ..errors import ForsunPlanError
from ..plan import Plan, validate_plan
from .endpoints import PAGE, EndpointError, Sink, Skipped


class NdjsonEndpoint(Sink):
    def __init__(self, url: str, path: str, *, sink: bool = False) -> None:
        super().__init__(url)
        self.sink = sink
        if not path:
            raise EndpointError(f"{url!r}: no file name (ndjson:PATH, or ndjson:- for "
                                f"stdin/stdout)")
        self.path = path
        self._out: IO[bytes] | None = None
        self._written = False

    @property
    def _stdio(self) -> bool:
        return self.path == "-"

    async def total(self, prefix: str) -> int | None:
        return None

    async def pages(self, prefix: str) -> AsyncIterator[list[Plan | Skipped]]:
        try:
            stream = sys.stdin.buffer if self._stdio else open(self.path, "rb")  # noqa: SIM115
        except OSError as exc:
            raise EndpointError(f"{self.url}: {exc.strerror}") from None
        # stdin is kept in an anonymous file, should a duplicate need it read again
        copy = tempfile.TemporaryFile() if self._stdio else None  # noqa: SIM115
        keys = _Keys()
        page: list[Plan | Skipped] = []
        try:
            for number, line in enumerate(stream, 1):
                if copy is not None:
                    copy.write(line)
                if line.strip():
                    item = _plan_of(line, number, keys)
                    if item is not None and (isinstance(item, Skipped)
                                             or item.key.startswith(prefix)):
                        page.append(item)
                if len(page) >= PAGE:
                    yield page
                    page = []
            if keys.suspects:
                if copy is not None:
                    copy.seek(0)
                again = copy or open(self.path, "rb")  # noqa: SIM115 - resolve closes it
                page += [item for item in keys.resolve(again)
                         if isinstance(item, Skipped) or item.key.startswith(prefix)]
        finally:
            if not self._stdio:
                stream.close()
            if copy is not None:
                copy.close()
        if page:
            yield page

    async def open(self) -> None:
        """As a DST: the file is written from here (an empty source makes an empty file)."""
        if not self.sink:
            return
        try:
            self._out = sys.stdout.buffer if self._stdio else open(  # noqa: SIM115
                self.path + ".tmp", "wb")
        except OSError as exc:
            raise EndpointError(f"{self.url}: {exc.strerror}") from None

    async def write(self, plans: list[Plan]) -> None:
        assert self._out is not None, "not open"
        self._out.write(b"".join(orjson.dumps(plan.to_dict()) + b"\n" for plan in plans))
        self._written = True

    async def count(self, prefix: str) -> int | None:
        """Lines in the file written (None for stdout; 0 before any write: the file is
        replaced)."""
        if self._stdio:
            return None
        if not self._written:
            return 0
        await self.close()
        with open(self.path, "rb") as written:
            return sum(1 for line in written if line.strip())

    async def close(self) -> None:
        if self._out is None:
            return
        out, self._out = self._out, None
        out.flush()
        if not self._stdio:
            os.fsync(out.fileno())
            out.close()
            os.replace(self.path + ".tmp", self.path)


class _Keys:
    """The keys read so far, as 64-bit hashes (about half the memory of the keys). A hash
    read before makes the line a suspect, set aside; :meth:`resolve` reads the file again
    to tell a duplicate (and the line that read its key first) from a hash collision."""

    def __init__(self) -> None:
        self.hashes: set[int] = set()
        #: line number -> (key, line) of each line whose key's hash was read before
        self.suspects: dict[int, tuple[str, bytes]] = {}

    def first(self, key: str, number: int, line: bytes) -> bool:
        """Whether ``key`` may be read for the first time (else the line is a suspect)."""
        digest = hash(key)
        if digest in self.hashes:
            self.suspects[number] = (key, line)
            return False
        self.hashes.add(digest)
        return True

    def resolve(self, stream: IO[bytes]) -> list[Plan | Skipped]:
        """The suspects: skipped as duplicates naming the line that read their key first,
        or (a collision) read as any other line. Closes ``stream``."""
        wanted = {key for key, _ in self.suspects.values()}
        first: dict[str, int] = {}
        with stream:
            for number, line in enumerate(stream, 1):
                if number not in self.suspects and line.strip():
                    with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                        key = orjson.loads(line).get("key")
                        if key in wanted:
                            first.setdefault(key, number)
        out: list[Plan | Skipped] = []
        for number, (key, line) in sorted(self.suspects.items()):
            earlier = first.get(key)
            if earlier is not None and earlier < number:
                out.append(Skipped("duplicate key", f"line {number}",
                                   f"key {key!r} already read at line {earlier}, which is "
                                   f"kept"))
            else:
                first[key] = number
                out.append(_plan_of(line, number, None))
        return out


def _plan_of(line: bytes, number: int, keys: _Keys | None) -> Plan | Skipped | None:
    """The plan of one line, why it is skipped, or None: a suspect set aside in ``keys``
    (None: no check for duplicates)."""
    where = f"line {number}"
    try:
        data: Any = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Skipped("not JSON", where, str(exc))
    if not isinstance(data, dict):
        return Skipped("not JSON", where, "not a JSON object")
    key = data.get("key")
    if isinstance(key, str) and keys is not None and not keys.first(key, number, line):
        return None
    try:
        plan = Plan.from_dict(data)
        validate_plan(plan)
    except ForsunPlanError as exc:
        return Skipped("invalid", where, f"key {key!r}: {exc.message}")
    except TypeError as exc:
        return Skipped("invalid", where, str(exc))
    return plan
