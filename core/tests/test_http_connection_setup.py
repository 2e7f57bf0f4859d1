"""The HTTP server's connection set-up cut short (issue 26 item 4): an accepted socket whose
set-up task is cancelled (``close_all_connections`` at stop) must end closed and uncounted,
whether the task never ran or was cancelled after ``connection_made``, on asyncio's loop
and on uvloop (which, unlike asyncio, closes such a transport without calling
``connection_lost``). Each case runs on a fresh loop of each kind installed."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from forsun.frontends import http_server
from forsun.frontends.http_server import ApiServer, make_server
from forsun.plugins import get_plugin_manager
from forsun.service import Service
from forsun.testing.options import make_options


def _runners() -> list[Any]:
    runners = [pytest.param(asyncio.run, id="asyncio")]
    try:
        import uvloop
    except ImportError:
        runners.append(pytest.param(None, id="uvloop", marks=pytest.mark.skip(
            reason="uvloop is not installed")))
    else:
        runners.append(pytest.param(uvloop.run, id="uvloop"))
    return runners


Runner = Callable[[Coroutine[Any, Any, None]], None]


def _server() -> ApiServer:
    service = Service(make_options(driver_mem_store_file="", port=0, http=""),
                      get_plugin_manager())
    return make_server(service, max_body_size=1 << 20, idle_timeout=60.0)


async def _closed_and_uncounted(server: ApiServer, conn: socket.socket,
                                peer: socket.socket) -> None:
    async with asyncio.timeout(5.0):  # awaited directly: it cancels before the loop turns
        await server.close_all_connections()
    assert server.open_connections == 0
    assert server.service.stats.counters["http_connecting_count"] == 0
    for _ in range(10):  # a transport closes its socket a loop iteration or two later
        await asyncio.sleep(0)
    peer.settimeout(5.0)
    assert peer.recv(1) == b"", "the server's end of the connection is still open"
    del conn


@pytest.mark.parametrize("run", _runners())
def test_a_set_up_cancelled_before_it_ran_closes_its_socket(run: Runner) -> None:
    async def case() -> None:
        server = _server()
        conn, peer = socket.socketpair()
        conn.setblocking(False)
        server.serve(conn, "peer")  # its task has not run yet when stop cancels it
        await _closed_and_uncounted(server, conn, peer)
        assert server.service.stats.counters["http_connected_count"] == 0

    run(case())


@pytest.mark.parametrize("run", _runners())
def test_a_set_up_cancelled_after_connection_made_uncounts_the_connection(
        run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    """stop() cancels the set-up task in the window between ``connection_made`` and the
    task's next step (forced here by cancelling it from ``connection_made`` itself)."""
    made = http_server.Connection.connection_made

    def made_then_cancelled(self: http_server.Connection, transport: Any) -> None:
        made(self, transport)
        for task in self.server._starting:
            task.cancel()

    monkeypatch.setattr(http_server.Connection, "connection_made", made_then_cancelled)

    async def case() -> None:
        server = _server()
        conn, peer = socket.socketpair()
        conn.setblocking(False)
        server.serve(conn, "peer")
        for _ in range(10):
            await asyncio.sleep(0)
        assert server.service.stats.counters["http_connected_count"] == 1
        await _closed_and_uncounted(server, conn, peer)

    run(case())
