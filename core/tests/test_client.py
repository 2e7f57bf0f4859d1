"""forsun.client (Client and AsyncClient) against a real forsund child process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from forsun.client import AsyncClient, Client
from forsun.errors import ForsunPlanError
from forsun.plan import Plan
from forsun.testing.services import free_port


@pytest.fixture(scope="module")
def forsund(module_forsunds):
    return module_forsunds.start()


@pytest.fixture
def client(forsund):
    with Client("127.0.0.1", forsund.port) as client:
        yield client


def connections_made(port: int) -> int:
    """The server's connected_count, read over a connection of its own (counted too)."""
    with Client("127.0.0.1", port) as reader:
        return int(reader.info()["connected_count"])


def test_the_client_does_not_import_the_servers_front_ends():
    """A program that only calls forsund loads no part of its front ends (tornado, the
    HTTP routes, the Thrift server)."""
    probe = ("import sys, forsun.client; "
             "print(sorted(m for m in sys.modules if m.startswith('forsun.frontends')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"


# -- the blocking client ---------------------------------------------------------------------


def test_ping(client):
    assert client.ping() == 0


def test_create_timeout_get_and_remove(client):
    before = time.time()
    created = client.create_timeout("client:timeout", 20, minute=1, count=2, action="shell",
                                    params={"cmd": "true"})
    assert isinstance(created, Plan)
    assert (created.key, created.second, created.minute, created.hour) == (
        "client:timeout", 20, 1, -1)
    assert (created.is_time_out, created.count, created.current_count) == (True, 2, 0)
    assert created.params == {"cmd": "true"}
    assert before + 79 <= created.next_time <= time.time() + 81
    assert client.get("client:timeout") == created
    assert client.remove("client:timeout") == created
    with pytest.raises(ForsunPlanError) as caught:
        client.get("client:timeout")
    assert caught.value.code == 1003


def test_create_fixed_time(client):
    plan = client.create("client:fixed", 15, minute=30, params={"cmd": "true"})
    assert (plan.is_time_out, plan.second, plan.minute, plan.hour, plan.action) == (
        False, 15, 30, -1, "shell")
    assert plan.next_time % 3600 == 30 * 60 + 15


def test_get_keys_time_and_current(client):
    for key in ("listed:2", "listed:1"):
        client.create_timeout(key, 3000, params={"cmd": "true"})
    assert client.get_keys("listed:") == ["listed:1", "listed:2"]
    due = client.get("listed:1").next_time
    assert "listed:1" in [plan.key for plan in client.get_time(due)]
    assert all(isinstance(plan, Plan) for plan in client.get_current())


def test_large_params_round_trip(client):
    params = {"cmd": "true", "blob": "é" * 300_000, **{f"k{i}": str(i) for i in range(2000)}}
    assert client.create_timeout("client:large", 900, params=params).params == params
    assert client.get("client:large").params == params


def test_info(client, forsund):
    values = client.info()
    assert values["bind_port"] == f"127.0.0.1:{forsund.port}"
    assert int(values["current_time"]) > 0


@pytest.mark.parametrize(("call", "code"), [
    (lambda c: c.create("client:feb30", 0, 0, 0, 30, 2, params={"cmd": "true"}), 1002),
    (lambda c: c.get("client:nothing"), 1003),
    (lambda c: c.remove("client:nothing"), 1003),
    (lambda c: c.create_timeout("client:act", 5, action="nosuchaction"), 1006),
    (lambda c: c.create_timeout("client:nocmd", 5), 1007),
], ids=["1002", "1003-get", "1003-remove", "1006", "1007"])
def test_server_errors_keep_their_code(client, call, code):
    with pytest.raises(ForsunPlanError) as caught:
        call(client)
    assert caught.value.code == code
    assert caught.value.message
    assert client.ping() == 0  # the connection survived the error


def test_calls_reuse_one_pooled_connection(forsund):
    before = connections_made(forsund.port)
    with Client("127.0.0.1", forsund.port) as client:
        for _ in range(20):
            client.ping()
        with pytest.raises(ForsunPlanError):
            client.get("client:nothing")
        client.ping()
    assert connections_made(forsund.port) - before == 2  # the client's one, the reader's one


def test_a_client_is_shared_by_threads(forsund):
    before = connections_made(forsund.port)
    start = threading.Barrier(8)

    def work(thread: int) -> list[str]:
        start.wait(timeout=30)
        keys = []
        for index in range(10):
            key = f"threads:{thread}:{index}"
            keys.append(client.create_timeout(key, 4000, params={"cmd": "true"}).key)
        return keys

    with Client("127.0.0.1", forsund.port, max_connections=3) as client, \
            ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
        assert sorted(client.get_keys("threads:")) == sorted(k for ks in results for k in ks)
    assert len({k for ks in results for k in ks}) == 80
    assert 1 < connections_made(forsund.port) - before <= 3 + 1


def test_a_closed_client_refuses_calls(forsund):
    client = Client("127.0.0.1", forsund.port)
    client.ping()
    client.close()
    with pytest.raises(ConnectionError):
        client.ping()


def test_no_server_is_a_connection_error():
    with Client("127.0.0.1", free_port(), timeout=2) as client, pytest.raises(ConnectionError):
        client.ping()


# -- the asyncio client ----------------------------------------------------------------------


async def test_async_round_trip(forsund):
    async with AsyncClient("127.0.0.1", forsund.port) as client:
        assert await client.ping() == 0
        created = await client.create_timeout("async:one", 50, count=0, params={"cmd": "true"})
        assert (created.key, created.second, created.count, created.is_time_out) == (
            "async:one", 50, 0, True)
        fixed = await client.create("async:fixed", 1, 2, 3, params={"cmd": "true"})
        assert (fixed.second, fixed.minute, fixed.hour, fixed.is_time_out) == (1, 2, 3, False)
        assert await client.get("async:one") == created
        assert await client.get_keys("async:") == ["async:fixed", "async:one"]
        assert "async:one" in [p.key for p in await client.get_time(created.next_time)]
        assert isinstance(await client.get_current(), list)
        assert (await client.info())["bind_port"] == f"127.0.0.1:{forsund.port}"
        assert await client.remove("async:one") == created
        with pytest.raises(ForsunPlanError) as caught:
            await client.get("async:one")
        assert caught.value.code == 1003
        with pytest.raises(ForsunPlanError) as caught:
            await client.create_timeout("async:nocmd", 5)
        assert caught.value.code == 1007
        assert await client.ping() == 0


async def test_async_concurrent_calls_share_a_small_pool(forsund):
    before = await asyncio.to_thread(connections_made, forsund.port)
    async with AsyncClient("127.0.0.1", forsund.port, max_connections=4) as client:
        plans = await asyncio.gather(*(
            client.create_timeout(f"pool:{index:02d}", 5000, params={"cmd": "true"})
            for index in range(50)))
        assert [plan.key for plan in plans] == [f"pool:{index:02d}" for index in range(50)]
        assert len(await client.get_keys("pool:")) == 50
    made = await asyncio.to_thread(connections_made, forsund.port) - before
    assert 1 < made <= 4 + 1


async def test_async_closed_client_and_no_server():
    async with AsyncClient("127.0.0.1", free_port(), timeout=2) as client:
        with pytest.raises(ConnectionError):
            await client.ping()
    with pytest.raises(ConnectionError):
        await client.ping()


# -- reconnecting --------------------------------------------------------------------------------


async def test_both_clients_reconnect_after_a_server_restart(forsunds):
    daemon = forsunds.start()
    port = daemon.port
    sync_client = Client("127.0.0.1", port)
    async_client = AsyncClient("127.0.0.1", port)
    try:
        assert sync_client.ping() == 0
        assert await async_client.ping() == 0
        daemon.stop()
        with pytest.raises(ConnectionError):
            sync_client.ping()
        forsunds.start(port=port)
        assert sync_client.ping() == 0
        assert await async_client.ping() == 0
        assert await async_client.ping() == 0
    finally:
        sync_client.close()
        await async_client.close()
