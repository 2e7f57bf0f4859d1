"""forsun's action conformance suite against the http action."""

import pytest

from forsun.testing import ActionConformance, make_options
from forsun_action_http.action import HttpAction


class TestHttpAction(ActionConformance):
    @pytest.fixture
    def action(self):
        return HttpAction(make_options())

    @pytest.fixture
    def target(self, http_target):
        return http_target
