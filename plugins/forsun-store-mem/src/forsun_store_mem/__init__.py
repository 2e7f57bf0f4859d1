"""forsun's embedded default store, ``--driver=mem``: plans in compact in-memory indexes,
made crash-safe by an append-only log and snapshots (see README.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forsun import hookimpl
from forsun.options import Option
from forsun.plugins import lazy


@hookimpl
def register_stores(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("mem", lazy("forsun_store_mem.store:MemStore"))


@hookimpl
def register_migration_endpoints(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("mem", lazy("forsun_store_mem.migration:endpoint"))


@hookimpl
def register_options(register: Callable[[Option], None]) -> None:
    register(Option(
        "driver-mem-store-file", default="forsun.db", section="store", metavar="FILE",
        help="where the mem store keeps plans: FILE.snapshot, FILE.log and FILE.lock "
             "(relative to the working directory); empty keeps plans in memory only"))
    register(Option(
        "driver-mem-store-fsync", default="everysec", section="store",
        choices=("always", "everysec", "no"),
        help="when the log is fsynced: always (before a create/remove is answered; "
             "concurrent ones share an fsync), everysec (once a second: a machine crash "
             "may lose about the last second), no (when the OS decides). A killed forsund "
             "loses nothing under any policy"))
    register(Option(
        "driver-mem-store-compact-size", type=int, default=64 << 20, section="store",
        metavar="BYTES",
        help="compact the log into the snapshot once it grew by this many bytes "
             "(larger: less rewriting, longer recovery after a crash)"))
    register(Option(
        "driver-mem-store-recover", type=bool, default=False, section="store",
        help="start even though the files are damaged (forsund refuses otherwise, saying "
             "what this would lose): keep every intact record and plan, skip the damaged "
             "bytes, keep each damaged file as FILE.damaged-<time> and write clean ones. "
             "Use once, then remove"))


@hookimpl
def forsun_info(service: Any) -> dict[str, str] | None:
    from .store import MemStore

    store = service.store
    return store.info() if isinstance(store, MemStore) else None
