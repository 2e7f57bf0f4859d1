"""Faults with the redis store, against real processes: a private redis-server per test (on a
free port, in the test's directory), forsund children and the shared HTTP receiver, which
the http action calls for every occurrence (``X-FORSUN-KEY``, ``X-FORSUN-TIMESTAMP``).

- Redis killed and restarted (AOF, ``appendfsync always``) while occurrences fire, or its
  connections cut again and again: forsund reconnects and no occurrence is lost.
- Three forsund nodes on one Redis, killed and restarted at random for about 50 s while
  ~5 000 occurrences come due: none is missed, and an occurrence fires twice only if a
  node that was killed held it (claimed, not acknowledged) when it died.

The random seed is printed; FORSUN_FAULT_SEED replays a run.
"""

from __future__ import annotations

import os
import random
import re
import struct
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis

from forsun.testing.process import ForsundProcess, start_forsund
from forsun.testing.receiver import HttpReceiver
from forsun.testing.redis_server import RedisServer

#: forsund's action timeout in these tests. An occurrence whose claim reply was lost on a
#: cut connection fires when its lease (timeout + --lease-margin) ends.
ACTION_TIMEOUT = 5
#: --lease-margin of the single-node tests: the lost-reply case then costs 10 s, not 35.
#: The multi-node test keeps the default (30 s), so that a node slowed down by the others
#: never loses an occurrence it is still firing to another node.
SHORT_LEASE_MARGIN = 5
#: --driver-redis-node-lease of the multi-node test, for the same reason: a node restarted
#: there catches up thousands of occurrences at once on a machine the other two nodes and
#: restarts keep busy, and its heartbeats once stalled past the default 5 s (its running
#: actions then fired twice, as the contract allows). Every killed node is restarted, so
#: takeovers are not what this test is about (test_multinode.py measures them).
RANDOM_KILLS_NODE_LEASE = 30


def client_of(server: RedisServer) -> redis.Redis:
    return redis.Redis(port=server.port, socket_timeout=10)


def seeded_rng() -> random.Random:
    seed = int(os.environ.get("FORSUN_FAULT_SEED") or random.randrange(1 << 30))
    print(f"FORSUN_FAULT_SEED={seed}")
    return random.Random(seed)


def node_args(redis_port: int, prefix: str, server_id: int, *extra: str) -> list[str]:
    return ["--driver", "redis", "--driver-redis-port", str(redis_port),
            "--driver-redis-prefix", prefix, "--driver-redis-server-id", str(server_id),
            "--action-timeout", str(ACTION_TIMEOUT), "--no-action-shell-enabled", *extra]


_RETRY = re.compile(r"action \S+ of (?P<key>.+?) \(due (?P<ts>\d+)\) failed: .*; retry \d")


def retried_occurrences(workdirs: list[Path]) -> set[tuple[str, int]]:
    """Occurrences a node logged a retry of (the failed attempt may have been delivered)."""
    found = set()
    for workdir in workdirs:
        for match in _RETRY.finditer((workdir / "forsund.log").read_text(errors="replace")):
            found.add((match["key"], int(match["ts"])))
    return found


def create_plans(daemon: ForsundProcess, plans: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Create ``plans`` in one HTTP batch; the occurrences they promise as (key, second)."""
    created = daemon.api("POST", "/v1/plans", plans, timeout=60)
    return [(plan["key"], plan["next_time"] + plan["second"] * n)
            for plan in created for n in range(plan["count"])]


def delay_plan(key: str, second: int, count: int, url: str) -> dict[str, Any]:
    return {"key": key, "seconds": second, "count": count, "is_time_out": True,
            "action": "http", "params": {"url": url}}


def occurrence(raw: bytes) -> tuple[str, int]:
    """(key, second) of the redis store's in-flight id: key, NUL, int64 little-endian."""
    return raw[:-9].decode("utf-8"), struct.unpack("<q", raw[-8:])[0]


def in_flight(server: RedisServer, prefix: str) -> dict[tuple[str, int], float]:
    """Occurrences claimed and not acknowledged, with their lease end."""
    with client_of(server) as client:
        return {occurrence(raw): score
                for raw, score in client.zrange(f"{{{prefix}}}:lease", 0, -1, withscores=True)}


def wait_for_all(receiver: HttpReceiver, expected: list[tuple[str, int]], until: float,
                 server: RedisServer, prefix: str) -> list[tuple[str, int]]:
    """Wait until every expected occurrence was delivered or ``until`` (unix time) passed;
    then give those still in flight until their lease ends (a claim whose reply was lost
    on a cut connection fires then: late, not lost). Returns what is still missing."""
    def missing() -> list[tuple[str, int]]:
        fired = receiver.occurrences()
        return [occ for occ in expected if occ not in fired]

    while missing() and time.time() < until:
        time.sleep(0.2)
    late = in_flight(server, prefix)
    if missing() and all(occ in late for occ in missing()):
        leases = [late[occ] for occ in missing()]
        print(f"{len(leases)} occurrences wait for their lease to end")
        deadline = max(leases) + 3
        while missing() and time.time() < deadline:
            time.sleep(0.2)
    return missing()


# -- Redis restarted or cut off during firing -------------------------------------------------


def firing_load(daemon: ForsundProcess, url: str, prefix: str) -> list[tuple[str, int]]:
    """200 one-shot plans due over the next 2-9 s and 10 plans firing every second eight
    times."""
    plans = [delay_plan(f"{prefix}:once:{n}", 2 + n % 8, 1, url) for n in range(200)]
    plans += [delay_plan(f"{prefix}:tick:{n}", 1, 8, url) for n in range(10)]
    return create_plans(daemon, plans)


def test_redis_killed_and_restarted_during_firing_loses_nothing(tmp_path, redis_server,
                                                                http_receiver):
    server = redis_server("--appendonly", "yes", "--appendfsync", "always")
    workdir = tmp_path / "node"
    workdir.mkdir()
    daemon = start_forsund(node_args(server.port, "restart", 1, "--lease-margin",
                                     str(SHORT_LEASE_MARGIN)), workdir=workdir)
    try:
        expected = firing_load(daemon, http_receiver.url("/fire"), "restart")
        time.sleep(3.0)
        fired_before = sum(http_receiver.occurrences().values())
        server.kill()
        time.sleep(1.5)
        server.start()
        missing = wait_for_all(http_receiver, expected, max(ts for _, ts in expected) + 6,
                               server, "restart")
        assert daemon.proc.poll() is None, "forsund died with Redis"
        with client_of(server) as client:
            plans_left = client.hlen("{restart}:plans")
    finally:
        daemon.stop()
    print(f"{len(expected)} occurrences, {fired_before} fired before Redis was killed")
    assert 0 < fired_before < len(expected), "Redis was not killed during firing"
    assert missing == []
    assert plans_left == 0, "finished plans are removed once Redis is back"


def test_redis_connections_cut_during_firing_lose_nothing(tmp_path, redis_server, http_receiver):
    server = redis_server("--appendonly", "yes", "--appendfsync", "always")
    workdir = tmp_path / "node"
    workdir.mkdir()
    daemon = start_forsund(node_args(server.port, "cut", 1, "--lease-margin",
                                     str(SHORT_LEASE_MARGIN)), workdir=workdir)
    cuts = 0
    try:
        expected = firing_load(daemon, http_receiver.url("/fire"), "cut")
        with client_of(server) as control:
            end = time.time() + 6
            while time.time() < end:
                cuts += control.client_kill_filter(_type="normal", skipme=True)
                time.sleep(0.3)
        missing = wait_for_all(http_receiver, expected, max(ts for _, ts in expected) + 6,
                               server, "cut")
        assert daemon.proc.poll() is None
    finally:
        daemon.stop()
    assert cuts >= 8, "forsund's connections were not cut"
    assert missing == []


# -- three nodes, random kills ----------------------------------------------------------------


def test_three_nodes_with_random_kills_miss_nothing(tmp_path, redis_server, http_receiver):
    rng = seeded_rng()
    server = redis_server("--appendonly", "no")
    prefix = "multi"
    workdirs = []
    for node in (1, 2, 3):
        workdirs.append(tmp_path / f"node{node}")
        workdirs[-1].mkdir()

    def start(node: int) -> ForsundProcess:
        return start_forsund(node_args(server.port, prefix, node, "--driver-redis-node-lease",
                                       str(RANDOM_KILLS_NODE_LEASE)),
                             workdir=workdirs[node - 1])

    with ThreadPoolExecutor(3) as pool:
        nodes = dict(zip((1, 2, 3), pool.map(start, (1, 2, 3)), strict=True))
        restarting: dict[int, Future[ForsundProcess]] = {}
        may_repeat: set[tuple[str, int]] = set()
        kills = 0

        def restart_later(node: int, delay: float) -> ForsundProcess:
            time.sleep(delay)
            return start(node)

        try:
            plans = [delay_plan(f"one:{n}", rng.randint(4, 48), 1, http_receiver.url("/fire"))
                     for n in range(2000)]
            plans += [delay_plan(f"rep:{n}", 2, 20, http_receiver.url("/fire")) for n in range(150)]
            expected = create_plans(nodes[1], plans)
            last_due = max(ts for _, ts in expected)
            while time.time() < last_due - 6:
                time.sleep(rng.uniform(0.5, 2.5))
                for node in [n for n, future in restarting.items() if future.done()]:
                    nodes[node] = restarting.pop(node).result()
                up = sorted(set(nodes) - set(restarting))
                if not up:
                    continue
                victim = rng.choice(up)
                nodes[victim].kill()
                kills += 1
                with client_of(server) as client:
                    held = client.smembers(f"{{{prefix}}}:held:{victim}")
                may_repeat.update(occurrence(raw) for raw in held)
                restarting[victim] = pool.submit(restart_later, victim, rng.uniform(0.2, 2.0))
            for node, future in restarting.items():
                nodes[node] = future.result()
            missing = wait_for_all(http_receiver, expected, last_due + 6, server, prefix)
            fired = http_receiver.occurrences()
            alive = [node for node, daemon in nodes.items() if daemon.proc.poll() is None]
        finally:
            for future in restarting.values():
                if future.exception() is None:
                    future.result().kill()
            for daemon in nodes.values():
                daemon.stop()
    repeated = {occ for occ in expected if fired[occ] > 1}
    retried = retried_occurrences(workdirs)
    print(f"{len(expected)} occurrences, {kills} kills, {len(missing)} missed, "
          f"{sum(fired[occ] - 1 for occ in repeated)} duplicates over {len(repeated)} "
          f"occurrences; {len(may_repeat)} occurrences were held by a killed node, "
          f"{len(retried)} retried after a failed attempt")
    may_repeat |= retried  # at-least-once: an attempt that timed out may have arrived
    assert len(expected) == 5000 and kills >= 10
    assert alive == [1, 2, 3]
    assert missing == []
    assert repeated <= may_repeat
    assert set(fired) <= set(expected), "an occurrence nobody planned was delivered"
