"""The workspace's integration tests: the core and its plugins together in real forsund
processes, against real servers (Redis, MariaDB, beanstalkd), with their client libraries.
The core's own tests (core/tests) need none of this."""

pytest_plugins = ["forsun.testing.fixtures"]

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

# Helper modules beside the tests (--import-mode=importlib adds no path).
sys.path.insert(0, str(Path(__file__).parent))

import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
from migrate_helpers import REDIS_DB  # noqa: E402


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis (database :data:`REDIS_DB`); the
    keys written under it are deleted after: ours (``{PREFIX}:...``), the original forsun's
    (``PREFIX:...``) and a key named ``PREFIX`` itself (timerush's HASH)."""
    import redis

    from forsun.testing.services import require_server

    require_server("Redis", "127.0.0.1", 6379)
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis(db=REDIS_DB)
    names = [prefix, *client.scan_iter(match=f"{{{prefix}}}:*"),
             *client.scan_iter(match=f"{prefix}:*")]
    client.delete(*names)
