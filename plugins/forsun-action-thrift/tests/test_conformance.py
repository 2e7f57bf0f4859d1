"""The action contract (forsun.testing.ActionConformance) for the thrift action."""

from __future__ import annotations

import pytest

from forsun.testing import ActionConformance
from forsun.testing.options import make_options
from forsun_action_thrift.action import ThriftAction


class TestThriftAction(ActionConformance):
    @pytest.fixture
    def action(self) -> ThriftAction:
        return ThriftAction(make_options())

    @pytest.fixture
    def target(self, forsun_call_target):
        return forsun_call_target
