"""The store contract (forsun.testing.StoreConformance) under the ``always`` and
``everysec`` fsync policies (``no`` differs only in never fsyncing: test_durability.py kills
a writer under it), and in memory-only mode (no file: the persistence tests are skipped by
capability)."""

from __future__ import annotations

import pytest

from forsun.testing import StoreConformance, StoreFactory

TARGET = "forsun_store_mem.store:MemStore"


class TestMemStore(StoreConformance):
    @pytest.fixture(params=["always", "everysec"])
    def store_factory(self, request: pytest.FixtureRequest, tmp_path) -> StoreFactory:
        return StoreFactory(TARGET, {"driver_mem_store_file": str(tmp_path / "db"),
                                     "driver_mem_store_fsync": request.param})


class TestMemStoreInMemoryOnly(StoreConformance):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return StoreFactory(TARGET, {"driver_mem_store_file": ""})
