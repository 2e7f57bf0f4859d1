"""``timerush+redis://[:password@]host:port/db?key=_timerush_redis_data_``: the timers a
timerush server kept in Redis, a source of ``forsund migrate``.

timerush kept one HASH (``--key``, default ``_timerush_redis_data_``): timer id → JSON
``{"cmd": callback URL, "data": callback data, "start": unix second registered,
"seconds": delay}``. Each becomes the plan this front end makes for a timer
(:func:`.protocol.timer_plan`, key ``timerush:ID``, action ``timerush``, so a callback's
answer still chains its follow-up), due at ``start + seconds`` as timerush had it. The HASH
is read with HSCAN, a page at a time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from forsun.migrate.endpoints import PAGE, EndpointError, Skipped, Source, query_of
from forsun.plan import Plan

from .protocol import KEY_PREFIX, ProtocolError, parse_timer, timer_plan

DEFAULT_KEY = "_timerush_redis_data_"


class TimerushSource(Source):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        parts = urlsplit(url)
        self.redis_url = urlunsplit(("redis", parts.netloc, parts.path, "", ""))
        self.key = query_of(url).get("key", DEFAULT_KEY)
        self._client: Any = None

    async def open(self) -> None:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        self._client = Redis.from_url(self.redis_url, decode_responses=False)
        try:
            await self._client.ping()
        except RedisError as exc:
            await self._client.aclose()
            raise EndpointError(f"{self.url}: {exc}") from None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def total(self, prefix: str) -> int | None:
        return None if prefix else await self._client.hlen(self.key)

    async def pages(self, prefix: str) -> AsyncIterator[list[Plan | Skipped]]:
        cursor = None
        seen: set[bytes] = set()  # HSCAN may return a field twice
        while cursor != 0:
            cursor, fields = await self._client.hscan(self.key, cursor or 0, count=PAGE)
            page: list[Plan | Skipped] = []
            for field, value in fields.items():
                if field in seen:
                    continue
                seen.add(field)
                item = timer_of(field, value)
                if isinstance(item, Skipped) or item.key.startswith(prefix):
                    page.append(item)
            if page:
                yield page


def timer_of(field: bytes, value: bytes) -> Plan | Skipped:
    """The plan of one timerush timer (its HASH field and value)."""
    where = f"timer {field.decode(errors='replace')!r}"
    try:
        data = json.loads(value)
        start = int(data["start"])
        timer = parse_timer({"callback_cmd": data["cmd"], "callback_data": data["data"],
                             "seconds": data["seconds"]})
    except (ValueError, KeyError, TypeError) as exc:  # ProtocolError is a ValueError
        why = str(exc) if isinstance(exc, ProtocolError) else f"not a timerush timer: {exc!r}"
        return Skipped("invalid", where, why)
    plan = timer_plan(timer, KEY_PREFIX + field.decode())
    plan.next_time = start + timer.seconds
    plan.created_time = float(start)
    return plan
