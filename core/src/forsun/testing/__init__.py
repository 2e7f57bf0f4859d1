"""forsun's shared test suite and test helpers, shipped in the core wheel.

- :mod:`forsun.testing.suite` — ``StoreConformance`` and ``ActionConformance``: mixins a
  plugin's tests subclass after overriding a fixture or two (re-exported here).
- :mod:`forsun.testing.reference` — a reference store and action that pass the suite.
- :mod:`forsun.testing.fixtures` — opt-in pytest fixtures (``make_plan``).
- :mod:`forsun.testing.options` — ``make_options(**values)``.
- :mod:`forsun.testing.services` — reaching real servers (skip, or fail under ``CI=true``).
- :mod:`forsun.testing.process` — running a real ``forsund`` in a child process.
- :mod:`forsun.testing.clock` — ``VirtualClock``: virtual time for engine and service tests.

Importing this package needs pytest and pytest-asyncio.
"""

from .options import make_options
from .suite import ActionConformance, ActionTarget, StoreConformance, StoreFactory, requires

__all__ = ["ActionConformance", "ActionTarget", "StoreConformance", "StoreFactory",
           "make_options", "requires"]
