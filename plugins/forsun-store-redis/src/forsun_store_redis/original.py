"""``forsun0+redis://[:password@]host:port/db?prefix=forsun``: the plans the original forsun
0.1.4 kept in Redis, a source of ``forsund migrate``.

The original stored each plan as a STRING ``PREFIX:SERVER_ID:plan:KEY`` holding its msgpack
record (:func:`forsun.migrate.forsun0.decode_record`). They are found with SCAN (a page at
a time, never KEYS) and read with MGET; ``server_id=N`` keeps one node's plans only.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from forsun.migrate.endpoints import PAGE, EndpointError, Skipped, Source, query_of
from forsun.migrate.forsun0 import decode_record
from forsun.plan import Plan

_GLOB = re.compile(r"([*?\[\]\\])")


def _glob_escaped(text: str) -> str:
    return _GLOB.sub(r"\\\1", text)


class OriginalRedisSource(Source):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        parts = urlsplit(url)
        query = query_of(url)
        self.redis_url = urlunsplit(("redis", parts.netloc, parts.path, "", ""))
        self.prefix = query.get("prefix", "forsun")
        self.server_id = query.get("server_id", "*")
        if self.server_id != "*" and not self.server_id.isdigit():
            raise EndpointError(f"{url!r}: server_id must be a number")
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

    async def pages(self, prefix: str) -> AsyncIterator[list[Plan | Skipped]]:
        name = re.compile(re.escape(self.prefix).encode() + rb":\d+:plan:")
        match = _glob_escaped(f"{self.prefix}:") + self.server_id + ":plan:" + \
            _glob_escaped(prefix) + "*"
        seen: set[bytes] = set()  # SCAN may return a key twice
        cursor = None
        while cursor != 0:
            cursor, names = await self._client.scan(cursor or 0, match=match, count=PAGE)
            names = [n for n in names if n not in seen and name.match(n)]
            seen.update(names)
            if not names:
                continue
            records = await self._client.mget(names)
            page: list[Plan | Skipped] = []
            for redis_key, record in zip(names, records, strict=True):
                if record is not None:  # expired or removed since SCAN saw it
                    page.append(decode_record(record, f"redis key {redis_key!r}"))
            yield page
