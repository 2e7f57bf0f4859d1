"""The ``noop`` action, loaded into forsund with
``--extension-path=REPO --extension=bench.noop.NoopExtension``: it returns at once, so a
burst measures the engine (claim, reschedule, dispatch, ack) and not an action's target."""

from __future__ import annotations

from forsun.action.base import Action, Firing
from forsun.extension import Extension


class NoopAction(Action):
    """Succeeds immediately."""

    async def execute(self, firing: Firing) -> None:
        return None


class NoopExtension(Extension):
    name = "bench_noop"

    def register(self) -> None:
        self.register_action("noop", NoopAction)
