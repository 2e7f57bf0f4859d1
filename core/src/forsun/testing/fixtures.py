"""Opt-in pytest fixtures for forsun plugin tests (the conformance suite needs none of them).

A plugin's ``tests/conftest.py`` opts in with::

    pytest_plugins = ["forsun.testing.fixtures"]

(pytest takes ``pytest_plugins`` only from the conftest files of the paths it was given on
its command line, or in ``testpaths``: run ``pytest plugins/NAME/tests``, not
``pytest plugins/``.) This also registers the ``conformance`` marker that the suite's
classes carry.

- ``make_plan`` (:func:`build_plan`), ``make_firing`` (:func:`build_firing`) and ``fire``
  (:func:`fire_plan`): a plan, a firing of it, one firing executed by an action.
- ``http_receiver``: a :class:`~forsun.testing.receiver.HttpReceiver` on a free port;
  ``refused_url``: a URL on which nothing listens.
- ``forsunds`` and, for module-scoped fixtures, ``module_forsunds``: real forsund
  processes (:class:`~forsun.testing.process.Forsunds`), stopped afterwards.
- ``redis_server``: private redis-server processes
  (:class:`~forsun.testing.redis_server.RedisServer`), killed afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from ..action.base import Action, Firing
from ..plan import Plan
from .process import Forsunds
from .receiver import HttpReceiver
from .redis_server import RedisServer
from .services import free_port

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


def build_firing(params: Mapping[str, str], *, key: str = "plan-key", ts: int = BASE_SECOND,
           attempt: int = 0) -> Firing:
    """Attempt ``attempt`` (0: the first) of a plan ``key`` with ``params`` due at ``ts``."""
    plan = build_plan(key, ts, params=dict(params))
    return Firing(key=key, ts=ts, params=plan.params, plan=plan, attempt=attempt)


async def fire_plan(action: Action, params: Mapping[str, str], **firing_args: Any) -> None:
    """Execute one :func:`build_firing` (``key``, ``ts``, ``attempt``) through ``action``; its
    ActionError propagates."""
    await action.execute(build_firing(params, **firing_args))


@pytest.fixture
def make_plan() -> Callable[..., Plan]:
    """:func:`build_plan`: ``make_plan("k1", next_time=..., params={...})``."""
    return build_plan


@pytest.fixture
def make_firing() -> Callable[..., Firing]:
    """:func:`build_firing`: ``make_firing(params, key="k", ts=...)``."""
    return build_firing


@pytest.fixture
def fire() -> Callable[..., Awaitable[None]]:
    """:func:`fire_plan`: ``await fire(action, params, key="k", ts=...)``."""
    return fire_plan


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """An :class:`~forsun.testing.receiver.HttpReceiver` (plain http, answering 200),
    closed after the test."""
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def refused_url() -> str:
    """An http URL on which nothing listens."""
    return f"http://127.0.0.1:{free_port()}/nothing"


@pytest.fixture
def forsunds(tmp_path: Path) -> Iterator[Forsunds]:
    """``forsunds.start(*args, workdir=..., port=..., ...)`` starts a forsund, by default
    in ``tmp_path`` (a restart finds the same files); every one still running is stopped
    after the test."""
    started = Forsunds(lambda: tmp_path)
    yield started
    started.close()


@pytest.fixture(scope="module")
def module_forsunds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forsunds]:
    """:func:`forsunds` for module-scoped fixtures; each forsund gets a directory of its
    own, and is stopped after the module's tests."""
    started = Forsunds(lambda: tmp_path_factory.mktemp("forsund"))
    yield started
    started.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """``redis_server(*args, tls=False)`` starts a private redis-server with extra ``args``
    on a free port (its TLS port with ``tls``), in a directory of its own; every one is
    killed after the test."""
    servers: list[RedisServer] = []

    def start(*args: str, tls: bool = False) -> RedisServer:
        workdir = tmp_path / f"redis-{len(servers)}"
        workdir.mkdir()
        server = RedisServer(workdir, args, tls=tls)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.kill()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "conformance: a contract test inherited from forsun.testing")
