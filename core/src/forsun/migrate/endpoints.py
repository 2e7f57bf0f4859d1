"""Endpoints of a migration: the :class:`Source` and :class:`Sink` contracts and
:func:`parse`, which turns an endpoint URL into one of them.

URL forms (the scheme picks the endpoint):

- ``ndjson:PATH`` / ``ndjson:-`` — :mod:`.ndjson`;
- ``forsun0:PATH`` — the original forsun's mem dump (:mod:`.forsun0`, a source only);
- ``NAME:...`` where a plugin registered the plan source ``NAME`` (``register_plan_sources``);
- ``NAME:PATH`` or ``NAME://...`` where ``NAME`` is a store (:mod:`.stores`): the store's
  option whose metavar is ``FILE`` takes ``PATH``, the one whose metavar is ``URL`` takes the
  URL without its query, and each query parameter ``p=v`` sets ``--driver-NAME-p=v``. The
  endpoint is the store opened, unless its plugin registered a migration endpoint for it
  (``register_migration_endpoints``) that takes the URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs
import pluggy

from ..plan import Plan

#: Plans per page read from a source and per write to a sink.
PAGE = 1000


class EndpointError(Exception):
    """An endpoint that cannot be used: a bad URL, a locked or unreadable source. One line."""


@attrs.frozen(slots=True)
class Skipped:
    """A record of a source that is not migrated: ``kind`` groups the report (``invalid``,
    ``unknown action``, ``finished``, ``unreadable``, ``duplicate``); ``where`` names the
    key or line."""

    kind: str
    where: str
    why: str


class Source:
    """Where plans come from. ``open`` / ``close`` bracket every other call."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def open(self) -> None:
        """Connect or open files; raises :class:`EndpointError`."""

    async def close(self) -> None:
        """Release everything."""

    async def total(self, prefix: str) -> int | None:
        """How many records :meth:`pages` will yield (for progress), None when unknown."""
        return None

    def pages(self, prefix: str) -> AsyncIterator[list[Plan | Skipped]]:
        """Pages of the plans whose key starts with ``prefix``, and of the records that
        cannot be migrated. A source whose data ends early (a truncated file) raises
        :class:`EndpointError` after the pages it could read."""
        raise NotImplementedError


class RedisSource(Source):
    """A source that reads a Redis server, ``SCHEME://[:password@]host:port/db?...`` (the
    query is the subclass's): between :meth:`open` and :meth:`close`, ``self.client`` is a
    ``redis.asyncio`` client answering bytes. Needs the ``redis`` package."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        parts = urlsplit(url)
        self.redis_url = urlunsplit(("redis", parts.netloc, parts.path, "", ""))
        self.client: Any = None

    async def open(self) -> None:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        self.client = Redis.from_url(self.redis_url, decode_responses=False)
        try:
            await self.client.ping()
        except RedisError as exc:
            await self.client.aclose()
            raise EndpointError(f"{self.url}: {exc}") from None

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()


class Sink(Source):
    """Where plans go (a sink can be read back as a source)."""

    #: True when nothing reaches DST before the migration ends (a failure part way leaves
    #: DST as it was); False when each page written is stored at once.
    stores_at_end = False

    async def write(self, plans: list[Plan]) -> None:
        """Create or replace each plan by key, with its schedule state as given."""
        raise NotImplementedError

    async def count(self, prefix: str) -> int | None:
        """Plans stored under ``prefix`` (None: this sink cannot tell)."""
        return None

    async def existing(self, keys: list[str]) -> set[str] | None:
        """Which of ``keys`` the sink holds already (None: this sink cannot tell)."""
        return None


def parse(url: str, pm: pluggy.PluginManager, *, sink: bool = False) -> Source:
    """The endpoint ``url`` names (a :class:`Sink` when ``sink``); :class:`EndpointError`
    for a URL no endpoint accepts."""
    from ..plugins import collect_migration_endpoints, collect_plan_sources, collect_stores

    scheme, sep, rest = url.partition(":")
    if not sep or not scheme:
        raise EndpointError(f"{url!r}: not an endpoint URL (SCHEME:..., e.g. mem:PATH, "
                            f"redis://host:6379/0?prefix=forsun, ndjson:FILE)")
    scheme = scheme.lower()
    stores = collect_stores(pm)
    if scheme == "ndjson":
        from .ndjson import NdjsonEndpoint

        return NdjsonEndpoint(url, rest, sink=sink)
    if scheme in stores:
        from .stores import StoreEndpoint, store_options

        streaming = collect_migration_endpoints(pm)
        if scheme in streaming:
            endpoint = streaming[scheme].factory(url, store_options(url, scheme, rest, pm),
                                                 sink)
            if endpoint is not None:
                return endpoint
        return StoreEndpoint(url, scheme, rest, pm)
    readers = {"forsun0": "forsun.migrate.forsun0:DumpSource"}
    sources = collect_plan_sources(pm)
    if scheme in readers or scheme in sources:
        if sink:
            raise EndpointError(f"{url!r}: {scheme} can only be read (a SRC, not a DST)")
        if scheme in readers:
            from ..plugins import resolve_target

            return resolve_target(readers[scheme])(url)
        return sources[scheme].factory(url)
    known = sorted({"ndjson", "forsun0", *stores.names(), *sources.names()})
    raise EndpointError(f"{url!r}: unknown scheme {scheme!r} (known: {', '.join(known)}; "
                        f"a store or source of a plugin that is not installed?)")


def query_of(url: str) -> dict[str, str]:
    """The query parameters of ``url`` (the last value of a repeated one)."""
    from urllib.parse import parse_qsl

    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
