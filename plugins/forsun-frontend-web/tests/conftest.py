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


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (its own browser download is unreachable
    here); skipped when chromium is missing, a failure under CI=true."""
    from playwright.sync_api import sync_playwright

    from forsun.testing.services import require_executable

    executable = require_executable("chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh browser tab (its own storage) at 1280x800, failing on a script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, errors


@pytest.fixture
def shot(tmp_path):
    """``shot(page, name)``: save a full-page screenshot as ``tmp_path/name.png``."""
    def save(tab, name: str):
        path = tmp_path / f"{name}.png"
        tab.screenshot(path=path, full_page=True)
        return path

    return save
