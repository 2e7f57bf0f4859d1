"""The action contract (forsun.testing.ActionConformance) for the celery action, as the
distribution's entry point registers it, against a real worker on RabbitMQ."""

from __future__ import annotations

import pytest

import forsun_action_celery
from forsun.plugins import collect_actions, get_plugin_manager
from forsun.testing import ActionConformance
from forsun.testing.options import make_options


class TestCeleryAction(ActionConformance):
    @pytest.fixture
    def action(self):
        pm = get_plugin_manager(only=[forsun_action_celery.plugin])
        return collect_actions(pm)["celery"].factory(make_options())

    @pytest.fixture
    def target(self, celery_target):
        return celery_target
