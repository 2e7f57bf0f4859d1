"""The original forsun 0.1.4's data: its mem store dump (``forsun0:PATH``, read here) and
its plan records, which its redis layout holds too (:func:`original_plan`).

The dump is one msgpack map ``{"plans": [record, ...], "time_plans": {...},
"current_time": N}`` written with msgpack 0.6 defaults: its strings *and* the record bytes
are msgpack raw strings, so the outer level is read with ``raw=True`` (a record is not UTF-8:
decoding it there is the ``UnicodeDecodeError`` of the old import script) and each record,
itself a msgpack map of UTF-8 strings, with ``raw=False``. Plans are read one at a time from
the file (:class:`msgpack.Unpacker`), never the whole list at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any, BinaryIO

import msgpack

from ..errors import ForsunPlanError
from ..plan import STATUS_WAITING, Plan, validate_plan
from .endpoints import PAGE, EndpointError, Skipped, Source

#: How a dump begins: a 3-entry fixmap whose first key is the raw string "plans".
DUMP_MAGIC = b"\x83\xa5plans"
#: The original's fields that a plan of ours has under the same name.
_FIELDS = ("second", "minute", "hour", "day", "month", "week", "count", "current_count",
           "last_timeout", "created_time", "action")


def is_original_dump(path: str) -> bool:
    """Whether ``path`` is a file written by the original's mem store."""
    try:
        with open(path, "rb") as dump:
            return dump.read(len(DUMP_MAGIC)) == DUMP_MAGIC
    except (IsADirectoryError, FileNotFoundError, PermissionError):
        return False


def original_plan(data: Mapping[str, Any], where: str) -> Plan | Skipped:
    """Our plan of one of the original's records (a decoded map), schedule state kept; a
    record that cannot be one is :class:`Skipped` naming ``where``."""
    key = data.get("key")
    if data.get("next_time") is None:
        return Skipped("finished", where, f"key {key!r}: fired its last time, nothing left "
                                          f"to run")
    params = data.get("params") or {}
    if isinstance(params, str):  # the original's default, "{}", was JSON text
        try:
            params = json.loads(params)
        except ValueError:
            params = None
    if not isinstance(params, dict):
        return Skipped("invalid", where, f"key {key!r}: params is not a map")
    try:
        plan = Plan(key=key, is_time_out=bool(data.get("is_time_out")),
                    next_time=int(data["next_time"]), status=STATUS_WAITING,
                    params={str(k): v if isinstance(v, str) else str(v)
                            for k, v in params.items()},
                    **{name: data[name] for name in _FIELDS if name in data})
        plan.created_time = float(plan.created_time)
        validate_plan(plan)
    except ForsunPlanError as exc:
        return Skipped("invalid", where, f"key {key!r}: {exc.message}")
    except (TypeError, ValueError) as exc:
        return Skipped("invalid", where, f"key {key!r}: {exc}")
    return plan


def decode_record(record: bytes, where: str) -> Plan | Skipped:
    """Our plan of one msgpack-packed record of the original (a dump item, a redis value)."""
    try:
        data = msgpack.unpackb(record, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as exc:
        return Skipped("unreadable", where, f"not an original plan record: {exc}")
    if not isinstance(data, dict):
        return Skipped("unreadable", where, "not an original plan record")
    return original_plan(data, where)


class DumpSource(Source):
    """``forsun0:PATH``: the plans of an original mem store dump."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = os.path.expanduser(url.partition(":")[2])
        self._file: BinaryIO | None = None

    async def open(self) -> None:
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise EndpointError(f"{self.url}: {exc.strerror}") from None
        if self._file.read(len(DUMP_MAGIC)) != DUMP_MAGIC:
            raise EndpointError(f"{self.url}: not a dump of the original forsun's mem store "
                                f"(it begins with a map whose first key is 'plans')")
        self._file.seek(0)

    async def close(self) -> None:
        if self._file is not None:
            self._file.close()

    async def total(self, prefix: str) -> int | None:
        return None

    async def pages(self, prefix: str) -> AsyncIterator[list[Plan | Skipped]]:
        assert self._file is not None
        unpacker = msgpack.Unpacker(self._file, raw=True, max_buffer_size=1 << 30)
        read = 0
        page: list[Plan | Skipped] = []
        try:
            entries = unpacker.read_map_header()
            for _ in range(entries):
                if unpacker.unpack() != b"plans":
                    unpacker.skip()
                    continue
                for _ in range(unpacker.read_array_header()):
                    record = unpacker.unpack()
                    read += 1
                    item = (decode_record(record, f"plan {read} of the dump")
                            if isinstance(record, bytes)
                            else Skipped("unreadable", f"plan {read} of the dump",
                                         "not a packed record"))
                    if isinstance(item, Skipped) or item.key.startswith(prefix):
                        page.append(item)
                    if len(page) >= PAGE:
                        yield page
                        page = []
        except (msgpack.OutOfData, ValueError, msgpack.UnpackException) as exc:
            if page:
                yield page
            what = "ends early" if isinstance(exc, msgpack.OutOfData) else f"is damaged ({exc})"
            raise EndpointError(f"{self.path} {what} after plan {read} (byte "
                                f"{unpacker.tell()}): the plans before it were read") from None
        if page:
            yield page
