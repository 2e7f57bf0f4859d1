"""The workspace's integration tests: the core and its plugins together in real forsund
processes, against real servers (Redis, MariaDB, beanstalkd), with their client libraries.
The core's own tests (core/tests) need none of this."""

pytest_plugins = ["forsun.testing.fixtures"]
