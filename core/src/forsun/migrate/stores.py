"""A store of any installed store plugin as a migration endpoint (``mem:PATH``,
``redis://host:port/db?prefix=NAME``, ...), opened with options built from its URL (see
:mod:`.endpoints`)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pluggy

from ..options import Option, Options
from ..plan import Plan, ValidatedPlans
from ..plugins import collect_options, collect_stores
from ..store.base import Store
from .endpoints import PAGE, EndpointError, Sink, Skipped, query_of


class StoreEndpoint(Sink):
    """The store ``name`` of the plugins of ``pm``, configured by ``url``."""

    def __init__(self, url: str, name: str, rest: str, pm: pluggy.PluginManager) -> None:
        super().__init__(url)
        self.name = name
        self.options = store_options(url, name, rest, pm)
        self.store: Store = collect_stores(pm)[name].factory(self.options)

    async def open(self) -> None:
        try:
            await self.store.open()
        except Exception as exc:  # the store's own one-line reason (locked, unreachable)
            raise EndpointError(f"{self.url}: {exc}") from exc

    async def close(self) -> None:
        await self.store.close()

    async def refuse_if_in_use(self) -> None:
        """:class:`EndpointError` when forsund nodes use the store now (a source must be
        still while it is read)."""
        now = time.time()
        nodes = [state.node for state in await self.store.nodes() or ()
                 if state.alive_until is not None and state.alive_until > now]
        if nodes:  # the store may not tell (nodes() answers None)
            raise EndpointError(f"{self.url}: in use by running forsund node(s) "
                                f"{', '.join(nodes)} (their heartbeats are current): stop "
                                f"them first (a node just stopped counts until its last "
                                f"heartbeat runs out, a few seconds)")

    async def total(self, prefix: str) -> int | None:
        return await self.store.count() if not prefix else None

    async def pages(self, prefix: str) -> AsyncIterator[list[Plan | Skipped]]:
        async for page in self.store.plan_pages(prefix, PAGE):
            yield list(page)

    async def write(self, plans: list[Plan]) -> None:
        await self.store.put_many(ValidatedPlans(plans))

    async def existing(self, keys: list[str]) -> set[str] | None:
        return await self.store.existing(keys)

    async def count(self, prefix: str) -> int | None:
        if not prefix:
            return await self.store.count()
        return len(await self.store.keys(prefix))


def store_options(url: str, name: str, rest: str, pm: pluggy.PluginManager) -> Options:
    """Options selecting the store ``name`` configured by ``url``; the store's other options
    keep their defaults (a file's name and settings never come from forsun.conf here)."""
    declared = [opt for opts in collect_options(pm).values() for opt in opts]
    own = {opt.name[len(f"driver-{name}-"):]: opt for opt in declared
           if opt.name.startswith(f"driver-{name}-")}
    values: dict[str, Any] = {"driver": name}
    parts = urlsplit(url)
    if rest.startswith("//"):
        target = _by_metavar(own, "URL", url)
        values[target.dest] = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    else:
        target = _by_metavar(own, "FILE", url)
        path = rest.split("?", 1)[0]
        if not path:
            raise EndpointError(f"{url!r}: no file name ({name}:PATH)")
        values[target.dest] = path
    for param, raw in query_of(url).items():
        option = own.get(param.replace("_", "-"))
        if option is None:
            known = ", ".join(sorted(own)) or "none"
            raise EndpointError(f"{url!r}: unknown parameter {param!r} of the {name} store "
                                f"(its options: {known})")
        try:
            values[option.dest] = option.convert(raw)
        except ValueError as exc:
            raise EndpointError(f"{url!r}: {exc}") from None
    return Options(declared, values)


def _by_metavar(own: dict[str, Option], metavar: str, url: str) -> Option:
    for option in own.values():
        if option.metavar == metavar:
            return option
    form = "a URL" if metavar == "URL" else "a file"
    raise EndpointError(f"{url!r}: this store is not named by {form}")
