"""``ndjson:PATH`` (``ndjson:-``: stdin or stdout): one plan per line, a JSON object with the
fields of the HTTP API (:meth:`forsun.plan.Plan.to_dict`), schedule state included.

Read: a line that is not a JSON object, or a key already read on an earlier line, is skipped
with its line number (the earlier line is kept). Written: to ``PATH.tmp``, renamed over
``PATH`` when the migration ends, so an interrupted run leaves no half file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from typing import IO, Any

import orjson

from ..errors import ForsunPlanError
from ..plan import Plan, validate_plan
from .endpoints import PAGE, EndpointError, Sink, Skipped


class NdjsonEndpoint(Sink):
    def __init__(self, url: str, path: str) -> None:
        super().__init__(url)
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
        seen: dict[str, int] = {}
        page: list[Plan | Skipped] = []
        try:
            for number, line in enumerate(stream, 1):
                if line.strip():
                    item = _plan_of(line, number, seen)
                    if isinstance(item, Skipped) or item.key.startswith(prefix):
                        page.append(item)
                if len(page) >= PAGE:
                    yield page
                    page = []
        finally:
            if not self._stdio:
                stream.close()
        if page:
            yield page

    async def write(self, plans: list[Plan]) -> None:
        if self._out is None:
            try:
                self._out = sys.stdout.buffer if self._stdio else open(  # noqa: SIM115
                    self.path + ".tmp", "wb")
            except OSError as exc:
                raise EndpointError(f"{self.url}: {exc.strerror}") from None
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


def _plan_of(line: bytes, number: int, seen: dict[str, int]) -> Plan | Skipped:
    where = f"line {number}"
    try:
        data: Any = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Skipped("not JSON", where, str(exc))
    if not isinstance(data, dict):
        return Skipped("not JSON", where, "not a JSON object")
    key = data.get("key")
    if isinstance(key, str):
        if key in seen:
            return Skipped("duplicate key", where,
                           f"key {key!r} already read at line {seen[key]}, which is kept")
        seen[key] = number
    try:
        plan = Plan.from_dict(data)
        validate_plan(plan)
    except ForsunPlanError as exc:
        return Skipped("invalid", where, f"key {key!r}: {exc.message}")
    except TypeError as exc:
        return Skipped("invalid", where, str(exc))
    return plan
