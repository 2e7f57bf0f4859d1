"""Fixtures of the dashboard's tests: a forsund serving it (``dashboard``, no token;
``guarded``, with ``--token``), fetched with ``fetch`` (urllib, any status)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import attrs
import pytest

from forsun.testing.process import ForsundProcess

pytest_plugins = ["forsun.testing.fixtures"]

TOKEN = "s3cret-token"


@attrs.frozen
class Reply:
    status: int
    headers: Any
    body: bytes


def _fetch(url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
           data: bytes | None = None) -> Reply:
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read())


@pytest.fixture
def fetch():
    """``fetch(url, method=, headers=, data=)``: a :class:`Reply`, whatever its status."""
    return _fetch


@pytest.fixture(scope="module")
def dashboard(module_forsunds) -> ForsundProcess:
    """A forsund with --http and no token, in memory only."""
    return module_forsunds.start("--driver-mem-store-file", "")


@pytest.fixture
def token() -> str:
    """The token of :func:`guarded`."""
    return TOKEN


@pytest.fixture(scope="module")
def guarded(module_forsunds) -> ForsundProcess:
    """A forsund with --http and ``--token TOKEN``."""
    return module_forsunds.start("--driver-mem-store-file", "", "--token", TOKEN)
