"""Opt-in pytest fixtures for forsun plugin tests (the conformance suite needs none of them).

Import the ones you use into your ``tests/conftest.py``::

    from forsun.testing.fixtures import make_plan, pytest_configure  # noqa: F401

(``pytest_plugins = ["forsun.testing.fixtures"]`` works too, but only in a top-level
conftest: pytest refuses it in ``plugins/NAME/tests/conftest.py`` when several plugin
folders are run at once.) ``pytest_configure`` registers the ``conformance`` marker that
the suite's classes carry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ..plan import Plan

#: A second in the past that every suite plan is due around (2023-11-14 22:13:20 UTC).
BASE_SECOND = 1_700_000_000


def build_plan(key: str, next_time: int = BASE_SECOND, **fields: Any) -> Plan:
    """A valid, fully filled plan (a delay plan firing once) as the service would store it;
    ``fields`` override any field."""
    values: dict[str, Any] = {
        "second": 5, "is_time_out": True, "count": 1, "created_time": BASE_SECOND - 5.25,
        "action": "shell", "params": {"cmd": f"echo {key}"},
    }
    values.update(fields)
    return Plan(key=key, next_time=next_time, **values)


@pytest.fixture
def make_plan() -> Callable[..., Plan]:
    """:func:`build_plan`: ``make_plan("k1", next_time=..., params={...})``."""
    return build_plan


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "conformance: a contract test inherited from forsun.testing")
