from forsun.testing.fixtures import make_plan, pytest_configure  # noqa: F401 - pytest hooks
