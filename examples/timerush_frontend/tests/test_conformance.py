"""forsun's action conformance suite against the timerush action and a real HTTP receiver."""

import pytest

from forsun.testing import ActionConformance, make_options
from forsun_frontend_timerush.action import TimerushAction


class TestTimerushAction(ActionConformance):
    @pytest.fixture
    def action(self):
        return TimerushAction(make_options())

    @pytest.fixture
    def target(self, timerush_target):
        return timerush_target
