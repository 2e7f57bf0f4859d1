"""Fixtures of the Redis store's tests: the shared Redis on 127.0.0.1:6379 (database 9, a
unique prefix per test, deleted afterwards) and private redis-server processes (AOF,
password, TLS: ``redis_server``; a 3-master cluster) that a test starts in its tmp dir."""

from __future__ import annotations

import random
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from forsun.testing.options import make_options
from forsun.testing.redis_server import RedisServer
from forsun.testing.services import require_executable, require_server
from forsun_store_redis.store import RedisStore

pytest_plugins = ["forsun.testing.fixtures"]

TEST_DB = 9


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    """SCAN + DEL every key of a store prefix (keys are ``{prefix}:...``)."""
    escaped = "".join("\\" + c if c in "*?[]\\" else c for c in prefix)
    batch = list(client.scan_iter(match=f"{{{escaped}}}:*", count=1000))
    if batch:
        client.delete(*batch)


@pytest.fixture
def redis_values() -> Any:
    """Option values (by dest) of a store over a fresh prefix in database 9 of the shared
    Redis; the prefix's keys are deleted after the test."""
    require_server("Redis", "127.0.0.1", 6379)
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield {"driver_redis_db": TEST_DB, "driver_redis_prefix": prefix}
    client = redis.Redis(db=TEST_DB)
    try:
        delete_prefix(client, prefix)
    finally:
        client.close()


@pytest.fixture
def raw_redis(redis_values) -> Any:
    """A plain synchronous client on the test database, to look at what the store wrote."""
    client = redis.Redis(db=TEST_DB)
    yield client
    client.close()


@pytest.fixture
async def open_store() -> Any:
    """``await open_store(**values)``: an opened RedisStore over ``values`` (option dests),
    closed after the test."""
    stores: list[RedisStore] = []

    async def build(**values: Any) -> RedisStore:
        store = RedisStore(make_options(**values))
        stores.append(store)  # closed even when open() fails
        await store.open()
        return store

    yield build
    for store in stores:
        await store.close()


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        port = random.randint(20000, 55000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a Redis Cluster node")


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> list[int]:
    """A real 3-master Redis Cluster (no replicas) on free ports; returns the ports."""
    require_executable("redis-server")
    redis_cli = require_executable("redis-cli")
    root = tmp_path_factory.mktemp("cluster")
    servers = []
    try:
        for index in range(3):
            workdir = root / f"node{index}"
            workdir.mkdir()
            server = RedisServer(workdir, ["--cluster-enabled", "yes", "--cluster-config-file",
                                           str(workdir / "nodes.conf"), "--appendonly", "no"],
                                 port=_free_cluster_port())
            servers.append(server)
            server.start()
        nodes = [f"127.0.0.1:{server.port}" for server in servers]
        subprocess.run([redis_cli, "--cluster", "create", *nodes, "--cluster-replicas", "0",
                        "--cluster-yes"], check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        while True:
            states = []
            for server in servers:
                with redis.Redis(port=server.port) as client:
                    states.append(client.execute_command("CLUSTER", "INFO"))
            if all(b"cluster_state:ok" in state for state in states):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ok within 30s: {states}")
            time.sleep(0.1)
        yield [server.port for server in servers]
    finally:
        for server in servers:
            server.kill()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed certificate for 127.0.0.1 made with the openssl command."""
    openssl = require_executable("openssl")
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return {"cert": cert, "key": key}
