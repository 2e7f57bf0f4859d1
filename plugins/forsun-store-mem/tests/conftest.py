"""Fixtures for the mem store's own tests: opening stores over a file, killing a child
process that writes to one, reading a store's whole observable state, and checking the
table's index invariants. Tests get the helpers as fixtures (tests/ is not importable)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from forsun.testing.fixtures import BASE_SECOND as T
from forsun.testing.options import make_options
from forsun_store_mem import record
from forsun_store_mem.store import MemStore
from forsun_store_mem.table import PlanTable

pytest_plugins = ["forsun.testing.fixtures"]


def _mem_store(path: Path | str, **values: Any) -> MemStore:
    return MemStore(make_options(driver_mem_store_file=str(path), **values))


class Stores:
    """Opens mem stores in a test and closes those still open at teardown."""

    def __init__(self) -> None:
        self.opened: list[MemStore] = []

    async def open(self, path: Path | str, **values: Any) -> MemStore:
        store = _mem_store(path, **values)
        await store.open()
        self.opened.append(store)
        return store

    async def close(self, store: MemStore) -> None:
        self.opened.remove(store)
        await store.close()


@pytest_asyncio.fixture
async def stores():
    opened = Stores()
    yield opened
    for store in opened.opened:
        await store.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "db"


#: Prepended to the code a killed child runs: ``store`` is an open MemStore.
_CHILD = """
import asyncio, json, os, signal, sys, time
import attrs
from forsun.testing.fixtures import build_plan
from forsun.testing.options import make_options
from forsun_store_mem.store import MemStore

T = {T}

async def body(store):
{body}

async def run():
    store = MemStore(make_options(**json.loads(sys.argv[1])))
    await store.open()
    await body(store)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(run())
"""


def _run_killed(body: str, path: Path | str, **values: Any) -> str:
    """Run ``body`` (async code using ``store``) in a child process over ``path`` and
    SIGKILL the child when it is done; return its stdout."""
    code = _CHILD.format(T=T, body=textwrap.indent(textwrap.dedent(body), "    "))
    options = {"driver_mem_store_file": str(path), **values}
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(options)],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return proc.stdout


async def _state_of(store: MemStore) -> dict[str, Any]:
    """Everything a caller can observe, plus the in-flight occurrences."""
    keys = await store.keys()
    return {
        "keys": keys,
        "plans": [await store.get(key) for key in keys],
        "due": await store.due(-(1 << 40), 1 << 40),
        "checkpoint": await store.get_checkpoint(),
        "inflight": sorted((record.entry_key(occ), record.entry_time(occ), held.node,
                            held.lease_until, held.record)
                           for occ, held in store.table.inflight.items()),
    }


def _check_invariants(table: PlanTable) -> None:
    """Every stored plan is either claimed or in the due index under its next_time, and
    the sorted sequences are sorted."""
    records = list(table.by_key)
    entries = list(table.by_due)
    assert records == sorted(records) and len(set(records)) == len(records)
    assert entries == sorted(entries) and len(set(entries)) == len(entries)
    waiting = {record.entry(rec, record.key_length(rec)) for rec in records
               if rec[:record.key_length(rec)] not in table.claimed}
    assert waiting == set(entries)
    for key, entry in table.claimed.items():
        stored = table.get(key)
        assert stored is not None and record.entry(stored, len(key)) == entry


@pytest.fixture
def mem_store():
    """``mem_store(path, **option_values)``: an unopened MemStore (``""``: memory only)."""
    return _mem_store


@pytest.fixture
def run_killed():
    """``run_killed(body, path, **option_values)``: run async ``body`` over ``store`` in a
    child process, then SIGKILL it; returns the child's stdout."""
    return _run_killed


@pytest.fixture
def state_of():
    """``await state_of(store)``: everything observable, in-flight occurrences included."""
    return _state_of


@pytest.fixture
def check_invariants():
    """``check_invariants(store.table)``: the indexes agree with the records."""
    return _check_invariants
