"""The store contract (forsun.testing.StoreConformance) on the shared Redis and on a real
3-master Redis Cluster."""

from __future__ import annotations

import uuid

import pytest

from forsun.testing import StoreConformance, StoreFactory

TARGET = "forsun_store_redis.store:RedisStore"


class TestRedisStore(StoreConformance):
    @pytest.fixture
    def store_factory(self, redis_values) -> StoreFactory:
        return StoreFactory(TARGET, redis_values)


class TestRedisClusterStore(StoreConformance):
    @pytest.fixture
    def store_factory(self, redis_cluster) -> StoreFactory:
        return StoreFactory(TARGET, {"driver_redis_cluster": True,
                                     "driver_redis_port": redis_cluster[0],
                                     "driver_redis_prefix": f"conf-{uuid.uuid4().hex[:12]}"})
