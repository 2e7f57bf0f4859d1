"""forsun's shared test suite and test helpers, shipped in the core wheel.

- :mod:`forsun.testing.suite` — ``StoreConformance`` and ``ActionConformance``: mixins a
  plugin's tests subclass after overriding a fixture or two.
- :mod:`forsun.testing.fixtures` — opt-in pytest fixtures
  (``pytest_plugins = ["forsun.testing.fixtures"]``).
- :mod:`forsun.testing.services` — reaching real servers (skip, or fail under ``CI=true``).
- :mod:`forsun.testing.process` — running a real ``forsund`` in a child process.
"""
