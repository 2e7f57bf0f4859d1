"""The action contract (forsun.testing.ActionConformance) for the mysql action."""

from __future__ import annotations

import pytest

from forsun.action import Firing
from forsun.testing import ActionConformance
from forsun.testing.options import make_options
from forsun_action_mysql.action import MysqlAction


class TestMysqlAction(ActionConformance):
    @pytest.fixture
    def action(self) -> MysqlAction:
        return MysqlAction(make_options())

    @pytest.fixture
    def target(self, mysql_table_target):
        return mysql_table_target

    async def assert_delivered_once(self, target, firing: Firing) -> None:
        # Deviation: SQL cannot carry the plan's key, so the delivery is matched by the
        # token that this firing's statement inserted (see MysqlTableTarget).
        token = target.token_of(firing.params)
        assert await self.delivered(target, token) == [(token, None)]
