"""The workspace's integration tests: the core and its plugins together in real forsund
processes, against real servers (Redis, MariaDB, beanstalkd), with their client libraries.
The core's own tests (core/tests) need none of this."""

pytest_plugins = ["forsun.testing.fixtures"]

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

# Helper modules beside the tests (--import-mode=importlib adds no path).
sys.path.insert(0, str(Path(__file__).parent))
