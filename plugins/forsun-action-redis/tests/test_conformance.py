"""The action contract (forsun.testing.ActionConformance) for the redis action."""

from __future__ import annotations

import pytest

from forsun.action import Firing
from forsun.testing import ActionConformance
from forsun.testing.options import make_options
from forsun_action_redis.action import RedisAction


class TestRedisAction(ActionConformance):
    @pytest.fixture
    def action(self) -> RedisAction:
        return RedisAction(make_options())

    @pytest.fixture
    def target(self, redis_list_target):
        return redis_list_target

    async def assert_delivered_once(self, target, firing: Firing) -> None:
        # Deviation: a redis command cannot carry the plan's key, so the delivery is
        # matched by the token that this firing's command pushed (see RedisListTarget).
        token = target.token_of(firing.params)
        assert await self.delivered(target, token) == [(token, None)]
