"""The Redis store against redis-server processes the tests start: AOF durability across a
Redis crash, reconnecting, URL/password/TLS connections and a real 3-master cluster."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
import redis.exceptions

from forsun.plan import STATUS_EXECUTING, Plan


def plan(key: str, next_time: int) -> Plan:
    return Plan(key=key, next_time=next_time, created_time=1.5, is_time_out=True, second=1,
                params={"cmd": "true"})


async def test_aof_keeps_plans_and_in_flight_occurrences_across_a_redis_crash(
        redis_server, open_store):
    server = redis_server("--appendonly", "yes", "--appendfsync", "always")
    store = await open_store(driver_redis_port=server.port, driver_redis_prefix="aof",
                             driver_redis_server_id=3)
    await store.put_many(plan(f"k{i:03d}", next_time=100 + i) for i in range(200))
    claimed = await store.claim(119, node="3", lease_until=time.time() + 3600)
    assert len(claimed) == 20
    await store.ack(claimed[0])
    await store.set_checkpoint(119)

    server.kill()
    restarted = asyncio.create_task(asyncio.to_thread(server.start))
    assert await store.count() == 200  # waits (retrying) until the server is back
    await restarted

    assert await store.get_checkpoint() == 119
    assert (await store.get("k005")).status == STATUS_EXECUTING
    assert [p.key for p in await store.due(0, 10_000)] == [f"k{i:03d}" for i in range(20, 200)]
    await store.release("3")  # the 19 unacked in-flight occurrences survived
    assert await store.claim(99, node="4", lease_until=time.time() + 60) == claimed[1:]
    await store.put(plan("after", 50))
    assert await store.keys("aft") == ["after"]


async def test_an_operation_waits_for_redis_to_come_back(redis_server, open_store):
    server = redis_server("--appendonly", "yes", "--appendfsync", "always")
    store = await open_store(driver_redis_port=server.port, driver_redis_prefix="re")
    await store.put(plan("a", 1))
    server.kill()
    pending = asyncio.create_task(store.put(plan("b", 2)))
    await asyncio.sleep(0.5)
    assert not pending.done()
    server.start()
    await asyncio.wait_for(pending, 15)
    assert await store.keys() == ["a", "b"]


async def test_without_retries_a_dead_redis_is_an_error(redis_server, open_store):
    server = redis_server()
    store = await open_store(driver_redis_port=server.port, driver_redis_retries=0)
    server.kill()
    with pytest.raises(redis.exceptions.ConnectionError):
        await store.count()


async def test_url_password_and_database(redis_server, open_store):
    server = redis_server("--requirepass", "s3cret")
    values = {"driver_redis_prefix": "pw", "driver_redis_retries": 0}
    by_flags = await open_store(driver_redis_port=server.port, driver_redis_db=3,
                                driver_redis_password="s3cret", **values)
    await by_flags.put(plan("a", 1))
    by_url = await open_store(driver_redis_url=f"redis://:s3cret@127.0.0.1:{server.port}/3",
                              **values)
    assert await by_url.keys() == ["a"]
    url_then_flag = await open_store(driver_redis_url=f"redis://127.0.0.1:{server.port}/3",
                                     driver_redis_password="s3cret", **values)
    assert await url_then_flag.count() == 1
    with redis.Redis(port=server.port, db=3, password="s3cret") as raw:
        assert raw.hlen("{pw}:plans") == 1
    with pytest.raises(redis.exceptions.AuthenticationError):
        await open_store(driver_redis_port=server.port, driver_redis_password="wrong", **values)


async def test_tls_connections(redis_server, open_store, tls_files):
    cert, key = str(tls_files["cert"]), str(tls_files["key"])
    server = redis_server("--tls-cert-file", cert, "--tls-key-file", key,
                          "--tls-ca-cert-file", cert, "--tls-auth-clients", "no",
                          tls=True)
    values = {"driver_redis_prefix": "tls", "driver_redis_ssl_ca_certs": cert,
              "driver_redis_retries": 0}
    by_flag = await open_store(driver_redis_port=server.port, driver_redis_ssl=True, **values)
    await by_flag.put(plan("a", 1))
    by_url = await open_store(driver_redis_url=f"rediss://127.0.0.1:{server.port}/0", **values)
    assert await by_url.keys() == ["a"]
    with pytest.raises(redis.exceptions.ConnectionError):
        await open_store(driver_redis_port=server.port, **values)  # plain text refused


# -- Redis Cluster ---------------------------------------------------------------------------


async def test_cluster_keeps_a_prefix_in_one_slot_and_claims_once(redis_cluster, open_store):
    values = {"driver_redis_cluster": True, "driver_redis_port": redis_cluster[0],
              "driver_redis_prefix": "cl"}
    nodes = [await open_store(**values, driver_redis_server_id=n) for n in (1, 2, 3)]
    with redis.Redis(port=redis_cluster[0]) as raw:
        masters = [line for line in raw.execute_command("CLUSTER", "NODES").splitlines()
                   if b"master" in line and b"fail" not in line]
        assert len(masters) == 3
        lay = nodes[0].layout
        slots = {raw.execute_command("CLUSTER", "KEYSLOT", name) for name in (
            lay.plans, lay.due, lay.keys, lay.inflight, lay.lease, lay.owner,
            lay.held("1"), lay.checkpoint)}
        assert len(slots) == 1
    await nodes[0].put_many(plan(f"k{i}", next_time=10 + i % 5) for i in range(500))
    assert await nodes[1].keys("k49") == ["k49", "k490", "k491", "k492", "k493", "k494",
                                          "k495", "k496", "k497", "k498", "k499"]

    async def drain(store):
        got = []
        for _ in range(500):  # bounded: a store that re-claims fails, not hangs
            batch = await store.claim(20, node=store.node_id, lease_until=time.time() + 60,
                                      limit=17)
            if not batch:
                break
            got += [p.occurrence() for p in batch]
            await asyncio.sleep(0)
        return got

    results = await asyncio.gather(*(drain(s) for s in nodes))
    everything = [occ for got in results for occ in got]
    assert sorted(everything) == sorted((f"k{i}", 10 + i % 5) for i in range(500))
    await nodes[2].release("1")  # a node id with its held set: a key built in the script
    owned_by_1 = sorted(results[0])
    again = await nodes[2].claim(20, node="3", lease_until=time.time() + 60)
    assert sorted(p.occurrence() for p in again) == owned_by_1
    for p in again:
        await nodes[0].ack(p)
    await nodes[1].set_checkpoint(20)
    assert await nodes[2].get_checkpoint() == 20


async def test_cluster_refuses_a_database_number(redis_cluster, open_store):
    with pytest.raises(ValueError, match="driver-redis-db"):
        await open_store(driver_redis_cluster=True, driver_redis_port=redis_cluster[0],
                         driver_redis_db=2)
