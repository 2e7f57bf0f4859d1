"""forsun's shared test suite and test helpers, shipped in the core wheel.

- :mod:`forsun.testing.suite` — ``StoreConformance`` and ``ActionConformance``: mixins a
  plugin's tests subclass after overriding a fixture or two (re-exported here).
- :mod:`forsun.testing.reference` — a reference store and action that pass the suite.
- :mod:`forsun.testing.fixtures` — opt-in pytest fixtures (``pytest_plugins =
  ["forsun.testing.fixtures"]``): plans, firings, a receiver, forsund, redis-server.
- :mod:`forsun.testing.options` — ``make_options(**values)``.
- :mod:`forsun.testing.services` — reaching real servers (skip, or fail under ``CI=true``).
- :mod:`forsun.testing.process` — running real ``forsund`` child processes.
- :mod:`forsun.testing.receiver` — an HTTP server recording what it receives.
- :mod:`forsun.testing.redis_server` — private ``redis-server`` processes.
- :mod:`forsun.testing.clock` — ``VirtualClock``: virtual time for engine and service tests.

Importing this package needs pytest and pytest-asyncio.
"""

import pytest

# Before they are imported: pytest then rewrites the asserts of the suites (detailed failure
# messages) and of the fixtures, which a conftest may import before its pytest_plugins.
pytest.register_assert_rewrite("forsun.testing.action_suite", "forsun.testing.fixtures",
                               "forsun.testing.store_suite")

from .options import make_options  # noqa: E402
from .suite import (  # noqa: E402
    ActionConformance,
    ActionTarget,
    StoreConformance,
    StoreFactory,
    requires,
)

__all__ = ["ActionConformance", "ActionTarget", "StoreConformance", "StoreFactory",
           "make_options", "requires"]
