"""The action contract (forsun.testing.ActionConformance) for the beanstalk action."""

from __future__ import annotations

import pytest

from forsun.action import Firing
from forsun.testing import ActionConformance
from forsun.testing.options import make_options
from forsun_action_beanstalk.action import BeanstalkAction


class TestBeanstalkAction(ActionConformance):
    @pytest.fixture
    def action(self) -> BeanstalkAction:
        return BeanstalkAction(make_options())

    @pytest.fixture
    def target(self, tube_target):
        return tube_target

    async def assert_delivered_once(self, target, firing: Firing) -> None:
        # Deviation: a job cannot carry the plan's key, so the delivery is matched by the
        # token that this firing put as the job's body (see TubeTarget).
        token = target.token_of(firing.params)
        assert await self.delivered(target, token) == [(token, None)]
