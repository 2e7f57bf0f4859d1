"""forsun's action conformance suite against the shell action."""

import pytest

from forsun.testing import ActionConformance, make_options
from forsun_action_shell.action import ShellAction


class TestShellAction(ActionConformance):
    """The default configuration, as the original forsun: a firing is done once its
    command has started."""

    @pytest.fixture
    def action(self, tmp_path):
        return ShellAction(make_options(action_shell_cwd=str(tmp_path)))

    @pytest.fixture
    def target(self, starting_shell_target):
        return starting_shell_target


class TestShellActionWaiting(ActionConformance):
    """``--action-shell-wait``: a non-zero exit fails without a retry."""

    @pytest.fixture
    def action(self, tmp_path):
        return ShellAction(make_options(action_shell_cwd=str(tmp_path), action_shell_wait=True))

    @pytest.fixture
    def target(self, shell_target):
        return shell_target


class TestShellActionRetryingNonzero(ActionConformance):
    """``--action-shell-wait --action-shell-retry-nonzero``: a non-zero exit asks for a
    retry."""

    @pytest.fixture
    def action(self, tmp_path):
        return ShellAction(make_options(action_shell_cwd=str(tmp_path), action_shell_wait=True,
                                        action_shell_retry_nonzero=True))

    @pytest.fixture
    def target(self, retrying_shell_target):
        return retrying_shell_target
