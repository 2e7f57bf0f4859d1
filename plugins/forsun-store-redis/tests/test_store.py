"""What is special to the Redis store (the contract itself is in test_conformance.py)."""

from __future__ import annotations

import asyncio
import time

import attrs
import pytest

import forsun_store_redis
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.plan import STATUS_EXECUTING, STATUS_FINISHED, STATUS_WAITING, Plan
from forsun.plugins import collect_options, collect_stores, get_plugin_manager
from forsun.testing.options import make_options
from forsun_store_redis import layout
from forsun_store_redis.codec import encode_plan
from forsun_store_redis.store import PUT_BATCH, RedisStore


def plan(key: str, next_time: int = 1000, **fields) -> Plan:
    values = {"created_time": 123.25, "is_time_out": True, "second": 5,
              "params": {"cmd": f"echo {key}"}, **fields}
    return Plan(key=key, next_time=next_time, **values)


def test_plugin_registers_store_and_options():
    pm = get_plugin_manager(builtins=False)  # through the entry point
    assert pm.get_plugin("store_redis") is forsun_store_redis
    registration = collect_stores(pm)["redis"]
    assert registration.plugin == "store_redis"
    assert isinstance(registration.factory(make_options()), RedisStore)
    declared = {opt.dest: opt for opt in collect_options(pm)["store_redis"]}
    expected = {
        "driver_redis_host": ("127.0.0.1", "redis_host"),
        "driver_redis_port": (6379, "redis_port"),
        "driver_redis_db": (0, "redis_db"),
        "driver_redis_password": ("", "redis_password"),
        "driver_redis_prefix": ("forsun", "redis_prefix"),
        "driver_redis_server_id": (0, "redis_server_id"),
        "driver_redis_url": ("", "redis_url"),
        "driver_redis_ssl": (False, "redis_ssl"),
        "driver_redis_cluster": (False, "redis_cluster"),
    }
    for dest, (default, ini_key) in expected.items():
        assert declared[dest].default == default, dest
        assert declared[dest].section == "store", dest
        assert declared[dest].ini_key == ini_key, dest
    assert declared["driver_redis_password"].secret


def test_codec_layout_matches_the_scripts():
    layout.check_codec_layout()
    record = encode_plan(plan("k", next_time=-5, status=STATUS_FINISHED))
    assert layout.occurrence_id("k", -5) == b"k\0" + record[layout.NEXT_TIME]


def test_empty_prefix_is_refused():
    with pytest.raises(ValueError, match="prefix"):
        layout.Layout("")


@pytest.mark.parametrize(("interval", "lease"), [(5.0, 5.0), (0.0, 5.0), (6.0, 5.0)])
def test_a_heartbeat_interval_not_below_the_node_lease_is_refused(interval, lease):
    with pytest.raises(ValueError, match="heartbeat-interval"):
        RedisStore(make_options(driver_redis_heartbeat_interval=interval,
                                driver_redis_node_lease=lease))


def test_lex_range_bounds():
    assert layout.lex_range("") == (b"-", b"+")
    assert layout.lex_range("é") == (b"[\xc3\xa9", b"(\xc3\xa9\xff")


async def test_keys_follow_python_order_for_unicode(open_store, redis_values):
    store = await open_store(**redis_values)
    keys = ["a", "ab", "a b", "a\x7f", "aé", "a\u00ff", "a\u0100", "a\uffff", "a😀",
            "a\U0010ffff", "b", "B", "é", "éa", "é😀", "😀", "[x", "(x", "-", "+", "a*", "a?"]
    await store.put_many(plan(key) for key in keys)
    assert await store.keys() == sorted(keys)
    for prefix in ("a", "a\u00ff", "é", "😀", "[", "(", "-", "+", "a*", "a\U0010ffff", "zz"):
        assert await store.keys(prefix) == sorted(k for k in keys if k.startswith(prefix)), prefix


async def test_keys_are_a_lex_index_not_a_scan(open_store, redis_values, raw_redis):
    store = await open_store(**redis_values)
    await store.put_many(plan(f"order:{i:03d}") for i in range(50))
    index = store.layout.keys
    assert raw_redis.type(index) == b"zset"
    assert raw_redis.zcard(index) == 50
    await store.remove("order:007")
    assert raw_redis.zcard(index) == 49
    assert "order:007" not in await store.keys("order:00")


async def test_every_key_of_a_prefix_shares_one_hash_tag(open_store, redis_values, raw_redis):
    store = await open_store(**redis_values)
    await store.put_many([plan("a", next_time=1), plan("b", next_time=2)])
    await store.claim(1, node="n1", lease_until=time.time() + 60)
    await store.set_checkpoint(1)
    lay = store.layout
    expected = {lay.plans, lay.due, lay.keys, lay.inflight, lay.lease, lay.owner,
                lay.held("n1"), lay.checkpoint}
    tag = "{" + redis_values["driver_redis_prefix"] + "}:"
    assert all(name.startswith(tag) for name in expected)
    assert {name.decode() for name in raw_redis.keys(tag.replace("{", "\\{") + "*")} == expected


async def test_put_many_batches_keep_the_last_of_duplicate_keys(open_store, redis_values):
    store = await open_store(**redis_values)
    plans = [plan(f"k{i % (PUT_BATCH + 10)}", next_time=i) for i in range(2 * PUT_BATCH + 5)]
    await store.put_many(plans)
    assert await store.count() == PUT_BATCH + 10
    latest = {p.key: p for p in plans}
    for key in ("k0", "k9", f"k{PUT_BATCH + 9}"):
        assert await store.get(key) == latest[key]


async def test_put_many_validates_everything_first(open_store, redis_values):
    store = await open_store(**redis_values)
    bad = plan("bad", minute=99, is_time_out=False)
    with pytest.raises(ForsunPlanError) as info:
        await store.put_many([plan("good"), bad])
    assert info.value.code == ErrorCode.STORE_FAILED
    assert await store.count() == 0


async def test_due_returns_more_plans_than_one_script_chunk(open_store, redis_values):
    store = await open_store(**redis_values)
    keys = [f"p{i:05d}" for i in range(2500)]
    await store.put_many(plan(key, next_time=77) for key in reversed(keys))
    await store.put(plan("later", next_time=78))
    assert [p.key for p in await store.due(77, 77)] == keys
    assert [p.key for p in await store.due(0, 100)] == [*keys, "later"]


async def test_claim_marks_the_stored_plan_executing_and_keeps_the_snapshot(
        open_store, redis_values, raw_redis):
    store = await open_store(**redis_values)
    finished = plan("fin", next_time=10, status=STATUS_FINISHED)
    await store.put_many([plan("w", next_time=10), finished])
    claimed = await store.claim(10, node="n1", lease_until=time.time() + 60)
    assert [(p.key, p.status) for p in claimed] == [("fin", STATUS_FINISHED),
                                                    ("w", STATUS_WAITING)]
    assert claimed[0] == finished
    assert (await store.get("w")).status == STATUS_EXECUTING
    assert (await store.get("fin")) == attrs.evolve(finished, status=STATUS_EXECUTING)
    assert await store.due(0, 100) == []
    assert raw_redis.hlen(store.layout.inflight) == 2
    for p in claimed:
        await store.ack(p)
    for name in (store.layout.inflight, store.layout.owner, store.layout.lease,
                 store.layout.held("n1")):
        assert not raw_redis.exists(name), name


async def test_reschedule_compares_next_time_and_created_time(open_store, redis_values):
    store = await open_store(**redis_values)
    await store.put(plan("k", next_time=10))
    [claimed] = await store.claim(10, node="n1", lease_until=time.time() + 60)
    replaced = attrs.evolve(claimed, created_time=claimed.created_time + 1e-6)
    await store.put(replaced)
    await store.reschedule(claimed, None)
    assert await store.get("k") == replaced
    await store.reschedule(replaced, attrs.evolve(replaced, next_time=20))
    assert (await store.get("k")).next_time == 20
    assert [p.key for p in await store.due(20, 20)] == ["k"]
    with pytest.raises(ValueError, match="successor key"):
        await store.reschedule(claimed, plan("other"))


# -- several nodes on one Redis ------------------------------------------------------------


async def test_nodes_claiming_concurrently_get_each_occurrence_once(open_store, redis_values):
    nodes = [await open_store(**redis_values, driver_redis_server_id=n) for n in range(1, 5)]
    assert [s.node_id for s in nodes] == ["1", "2", "3", "4"]
    occurrences = {(f"k{i}", 100 + i % 7) for i in range(3000)}
    await nodes[0].put_many(plan(key, next_time=t) for key, t in occurrences)
    claims: dict[str, list[tuple[str, int]]] = {s.node_id: [] for s in nodes}

    async def drain(store: RedisStore) -> None:
        for _ in range(len(occurrences)):  # bounded: a store that re-claims fails, not hangs
            got = await store.claim(110, node=store.node_id, lease_until=time.time() + 60,
                                    limit=37)
            if not got:
                return
            claims[store.node_id] += [p.occurrence() for p in got]
            await asyncio.sleep(0)

    await asyncio.gather(*(drain(s) for s in nodes))
    everything = [occ for got in claims.values() for occ in got]
    assert len(everything) == len(occurrences)
    assert set(everything) == occurrences
    assert sum(1 for got in claims.values() if got) >= 2  # the work really was shared


async def test_a_dead_nodes_occurrences_go_to_a_survivor_after_its_lease(
        open_store, redis_values):
    dead, survivor = [await open_store(**redis_values, driver_redis_server_id=n)
                      for n in (1, 2)]
    await dead.put_many(plan(f"k{i}", next_time=50 + i) for i in range(10))
    lease = time.time() + 2.0  # long enough for the checks before it ends, even on a busy box
    taken = await dead.claim(54, node=dead.node_id, lease_until=lease)
    assert [p.key for p in taken] == ["k0", "k1", "k2", "k3", "k4"]
    await dead.ack(taken[0])  # finished before dying; the other four were not acked
    assert await survivor.claim(54, node=survivor.node_id, lease_until=time.time() + 60) == []
    await asyncio.sleep(max(0.0, lease - time.time()) + 0.05)
    recovered = await survivor.claim(54, node=survivor.node_id, lease_until=time.time() + 60)
    assert recovered == taken[1:]
    assert await survivor.claim(54, node=survivor.node_id, lease_until=time.time() + 60) == []
    await dead.release(dead.node_id)  # the dead node restarting: nothing of it is left
    assert await dead.claim(54, node=dead.node_id, lease_until=time.time() + 60) == []
    await survivor.release(survivor.node_id)
    assert await dead.claim(54, node=dead.node_id, lease_until=time.time() + 60) == taken[1:]


async def test_release_only_touches_the_named_node(open_store, redis_values):
    a, b = [await open_store(**redis_values, driver_redis_server_id=n) for n in (1, 2)]
    await a.put_many(plan(f"k{i}", next_time=1) for i in range(4))
    mine = await a.claim(1, node="1", lease_until=time.time() + 60, limit=2)
    theirs = await b.claim(1, node="2", lease_until=time.time() + 60)
    assert len(mine) == len(theirs) == 2
    await b.release("1")
    assert await b.claim(1, node="2", lease_until=time.time() + 60) == mine
    assert await a.claim(1, node="1", lease_until=time.time() + 60) == []


async def test_checkpoint_is_shared_and_keeps_the_maximum(open_store, redis_values):
    a, b = [await open_store(**redis_values, driver_redis_server_id=n) for n in (1, 2)]
    assert await a.get_checkpoint() is None
    await a.set_checkpoint(1_700_000_010)
    await b.set_checkpoint(1_700_000_005)
    assert await b.get_checkpoint() == 1_700_000_010
    await b.set_checkpoint(1_700_000_011)
    assert await a.get_checkpoint() == 1_700_000_011


async def test_a_plan_put_again_while_in_flight_is_one_occurrence(open_store, redis_values):
    store = await open_store(**redis_values)
    await store.put(plan("k", next_time=10))
    assert len(await store.claim(10, node="n1", lease_until=time.time() - 1)) == 1  # expired
    again = plan("k", next_time=10, created_time=200.5)
    await store.put(again)
    assert await store.claim(10, node="n2", lease_until=time.time() + 60) == [again]
    await store.put(plan("k", next_time=10, created_time=300.5))
    [third] = await store.claim(10, node="n3", lease_until=time.time() + 60)
    assert third.created_time == 300.5
    await store.release("n2")  # n3 holds the occurrence now: n2's release leaves it alone
    assert await store.claim(10, node="n4", lease_until=time.time() + 60) == []
    await store.ack(third)
    await store.release("n3")
    assert await store.claim(10, node="n4", lease_until=time.time() + 60) == []
