"""The Redis store: plans shared by any number of forsund nodes on one Redis or Redis Cluster.

Data layout (see :mod:`.layout`): a HASH of packed plans, a ZSET of waiting plans scored by
``next_time``, a ZSET of all keys for prefix queries, the in-flight occurrences (a HASH
of snapshots, a ZSET of leases, a HASH of owners, a SET per node) and a ZSET of the nodes'
heartbeats. Every multi-key step is one Lua script (:mod:`.scripts`), so it is atomic even
with many nodes: an occurrence is claimed by one node only, until its lease runs out or its
node falls silent for ``--driver-redis-node-lease``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from forsun.errors import ForsunPlanError
from forsun.plan import STATUS_EXECUTING, Plan, validate_plan, validated_list
from forsun.store.base import (
    DURABLE,
    FAILURES,
    HEARTBEAT,
    MULTI_NODE,
    PERSISTENT,
    NodeState,
    Store,
)
from forsun.store.failures import Failure, FailurePage, page

from . import scripts
from .codec import decode_plan, encode_plan
from .connection import build_client
from .layout import CREATED_TIME, NEXT_TIME, Layout, check_codec_layout, lex_range, occurrence_id

if TYPE_CHECKING:
    from forsun.options import Options

#: Plans written by one script call of ``put_many`` (one round trip each).
PUT_BATCH = 1000


def _due_order(plan: Plan) -> tuple[int, str]:
    return plan.next_time, plan.key


def _stored_plan(key: str, reply: list[Any] | None) -> Plan:
    """The plan of a GET/REMOVE script reply: a plan out of the due index is claimed."""
    if reply is None:
        raise ForsunPlanError.not_found(key)
    record, waiting = reply
    plan = decode_plan(record)
    if not waiting:
        plan.status = STATUS_EXECUTING
    return plan


class RedisStore(Store):
    """Store driver ``redis``. ``node_id`` is ``str(--driver-redis-server-id)``.

    ``durable``: a write is acknowledged once Redis has applied it, so it survives SIGKILL
    of forsund; surviving a crash of Redis itself needs Redis AOF with ``appendfsync
    always`` (see the README).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({DURABLE, PERSISTENT, MULTI_NODE,
                                                        HEARTBEAT, FAILURES})

    def __init__(self, options: Options | None = None) -> None:
        if options is None:
            raise ValueError("RedisStore needs the service options (--driver-redis-*)")
        super().__init__(options)
        self.layout = Layout(options.driver_redis_prefix)
        self.node_id = str(options.driver_redis_server_id)
        self.heartbeat_interval = float(options.driver_redis_heartbeat_interval)
        self.node_lease = float(options.driver_redis_node_lease)
        if not 0 < self.heartbeat_interval < self.node_lease:
            raise ValueError(f"--driver-redis-heartbeat-interval ({self.heartbeat_interval:g} s) "
                             f"must be above 0 and below --driver-redis-node-lease "
                             f"({self.node_lease:g} s)")
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        # redis-py's pools fail a command that finds every connection busy; waiting here
        # instead lets any number of concurrent requests share the pool.
        self._slots = asyncio.Semaphore(int(options.driver_redis_max_connections))

    async def open(self) -> None:
        check_codec_layout()
        self._client = build_client(self.options)
        self._scripts = {name: self._client.register_script(getattr(scripts, name))
                         for name in scripts.__all__}
        await self._call(self._client.ping)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _call(self, command: Callable[..., Awaitable[Any]], *args: Any,
                    **kwargs: Any) -> Any:
        """Run one Redis command once a connection of the pool is free."""
        async with self._slots:
            return await command(*args, **kwargs)

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._call(self._scripts[name], keys=keys, args=args)

    # -- plans -----------------------------------------------------------------------------

    async def put(self, plan: Plan) -> None:
        await self.put_many((plan,))

    async def put_many(self, plans: Iterable[Plan]) -> None:
        plans = validated_list(plans)
        keys = [self.layout.plans, self.layout.due, self.layout.keys]
        for start in range(0, len(plans), PUT_BATCH):
            args: list[Any] = []
            for plan in plans[start:start + PUT_BATCH]:
                args += (plan.next_time, plan.key, encode_plan(plan))
            await self._run("PUT", keys, args)

    async def get(self, key: str) -> Plan:
        reply = await self._run("GET", [self.layout.plans, self.layout.due], [key])
        return _stored_plan(key, reply)

    async def existing(self, keys: Sequence[str]) -> set[str]:
        """One HMGET (one command: redis-py packs and parses a pipeline of HEXISTS per
        command, several times slower in Python)."""
        if not keys:
            return set()
        found = await self._call(self._client.hmget, self.layout.plans, list(keys))
        return {key for key, record in zip(keys, found, strict=True) if record is not None}

    async def remove(self, key: str) -> Plan:
        reply = await self._run("REMOVE", [self.layout.plans, self.layout.due,
                                           self.layout.keys], [key])
        return _stored_plan(key, reply)

    async def keys(self, prefix: str = "") -> list[str]:
        low, high = lex_range(prefix)
        members = await self._call(self._client.zrangebylex, self.layout.keys, low, high)
        return [member.decode("utf-8") for member in members]

    async def plan_pages(self, prefix: str = "", size: int = 1000
                         ) -> AsyncIterator[list[Plan]]:
        """Pages of ``size`` keys of the key index from the last key read on (so a page
        costs the same however far in), each read with one HMGET."""
        low, high = lex_range(prefix)
        while True:
            members = await self._call(self._client.zrangebylex, self.layout.keys, low, high,
                                       start=0, num=size)
            if not members:
                return
            records = await self._call(self._client.hmget, self.layout.plans, members)
            yield [decode_plan(record) for record in records if record is not None]
            if len(members) < size:
                return
            low = b"(" + members[-1]

    async def due(self, start: int, end: int) -> list[Plan]:
        records = await self._run("DUE", [self.layout.plans, self.layout.due], [start, end])
        return [decode_plan(record) for record in records]

    async def count(self) -> int:
        return await self._call(self._client.hlen, self.layout.plans)

    async def count_due(self, start: int, end: int) -> int:
        return await self._call(self._client.zcount, self.layout.due, start, end)

    # -- occurrences -----------------------------------------------------------------------

    async def claim(self, up_to: int, *, node: str, lease_until: float,
                    limit: int = 10_000) -> list[Plan]:
        if limit <= 0:
            return []
        lay = self.layout
        records = await self._run(
            "CLAIM",
            [lay.plans, lay.due, lay.inflight, lay.lease, lay.owner, lay.held(node), lay.nodes],
            [up_to, node, repr(float(lease_until)), limit, repr(time.time()), lay.held_prefix])
        plans = [decode_plan(record) for record in records]
        plans.sort(key=_due_order)
        return plans

    async def reschedule(self, claimed: Plan, successor: Plan | None) -> bool:
        (still_claimed,) = await self.reschedule_many([(claimed, successor)])
        return still_claimed

    async def reschedule_many(self, pairs: Sequence[tuple[Plan, Plan | None]]) -> list[bool]:
        args: list[Any] = []
        for claimed, successor in pairs:
            if successor is not None:
                validate_plan(successor)
                if successor.key != claimed.key:
                    raise ValueError(f"successor key {successor.key!r} differs from the "
                                     f"claimed plan's {claimed.key!r}")
            expected = encode_plan(claimed)
            args += (claimed.key, expected[NEXT_TIME], expected[CREATED_TIME])
            args += ("", "") if successor is None else (successor.next_time,
                                                        encode_plan(successor))
        keys = [self.layout.plans, self.layout.due, self.layout.keys]
        still_claimed: list[bool] = []
        for start in range(0, len(args), 5 * PUT_BATCH):
            flags = await self._run("RESCHEDULE", keys, args[start:start + 5 * PUT_BATCH])
            still_claimed += map(bool, flags)
        return still_claimed

    async def ack(self, claimed: Plan) -> None:
        await self.ack_many([claimed])

    async def ack_many(self, claimed: Sequence[Plan]) -> None:
        ids = [occurrence_id(*plan.occurrence()) for plan in claimed]
        keys = [self.layout.inflight, self.layout.lease, self.layout.owner]
        for start in range(0, len(ids), PUT_BATCH):
            await self._run("ACK", keys, [self.layout.held_prefix, *ids[start:start + PUT_BATCH]])

    async def extend_lease(self, claimed: Plan, lease_until: float) -> None:
        await self._call(self._client.zadd, self.layout.lease,
                         {occurrence_id(*claimed.occurrence()): float(lease_until)}, xx=True)

    async def release(self, node: str) -> None:
        await self._run("RELEASE", [self.layout.held(node), self.layout.lease], [])

    async def heartbeat(self, node: str, alive_until: float) -> bool:
        return bool(await self._run("HEARTBEAT", [self.layout.nodes],
                                    [node, repr(float(alive_until))]))

    async def nodes(self) -> list[NodeState]:
        lay = self.layout
        nodes = await self._call(self._client.zrange, lay.nodes, 0, -1, withscores=True)
        held = [await self._call(self._client.scard, lay.held(node.decode()))
                for node, _ in nodes]  # a few nodes: one round trip each
        return [NodeState(node.decode(), None if until == float("-inf") else until, count)
                for (node, until), count in zip(nodes, held, strict=True)]

    # -- failures ----------------------------------------------------------------------

    async def add_failure(self, failure: Failure) -> None:
        lay = self.layout
        await self._run("ADD_FAILURE", [lay.failures, lay.failure_order, lay.failure_seq,
                                        lay.failures_dropped],
                        [failure.id, json.dumps(failure.to_dict()), self.failures_max])

    async def _failures(self, ids: Sequence[str]) -> list[Failure]:
        if not ids:
            return []
        found = await self._call(self._client.hmget, self.layout.failures, list(ids))
        return [Failure.from_dict(json.loads(raw)) for raw in found if raw is not None]

    async def _newest_ids(self) -> list[str]:
        members = await self._call(self._client.zrevrange, self.layout.failure_order, 0, -1)
        return [member.decode() for member in members]

    async def list_failures(self, *, prefix: str = "", action: str = "", limit: int = 100,
                            offset: int = 0) -> FailurePage:
        dropped = int(await self._call(self._client.get, self.layout.failures_dropped) or 0)
        if not prefix and not action and limit <= 0:
            total = await self._call(self._client.zcard, self.layout.failure_order)
            return FailurePage(total, dropped, [])
        failures = await self._failures(await self._newest_ids())
        return page(failures, dropped, prefix=prefix, action=action, limit=limit,
                    offset=offset)

    async def get_failures(self, ids: Sequence[str] | None) -> list[Failure]:
        return await self._failures(await self._newest_ids() if ids is None
                                    else list(dict.fromkeys(ids)))

    async def remove_failures(self, ids: Sequence[str] | None) -> int:
        lay = self.layout
        if ids is not None and not ids:
            return 0
        return await self._run("REMOVE_FAILURES", [lay.failures, lay.failure_order],
                               [] if ids is None else list(set(ids)))

    # -- checkpoint ------------------------------------------------------------------------

    async def get_checkpoint(self) -> int | None:
        value = await self._call(self._client.get, self.layout.checkpoint)
        return None if value is None else int(value)

    async def set_checkpoint(self, second: int) -> None:
        await self._run("SET_CHECKPOINT", [self.layout.checkpoint], [int(second)])
