"""takeover: a node killed with SIGKILL while it holds the next second's claim, and not
restarted; how late the other node fires its occurrences (issue 20).

Two forsund nodes (server ids 1 and 2, default options: heartbeat every second, node lease
5 s, the occurrences' own lease 120 + 30 s) share a prefix on Redis at 127.0.0.1:6379
(database :data:`redis_store.DB`, keys deleted at the end). ``takeover_plans`` plans with
the http action calling the receiver are due at one second S. From half a second before S
the bench polls each node's held set; the node that claims S (0.1 s ahead, holding the
firings until S) is killed at once. Figures, by the receiver's clock: the lateness of the
last of its occurrences (receive time - S; goal ≤ 10 s), the occurrences never received
(goal 0) and those received twice among the ones it had not started (goal 0: arrived more
than :data:`IN_TRANSIT` after the kill; ones it had started may repeat, at-least-once). No
baseline: the node lease (5 s) is the floor by design.
"""

from __future__ import annotations

import time
from collections import Counter

import redis

from .context import Context
from .delivery import create_in_time
from .plans import fixed, key
from .precision import ZERO
from .redis_store import DB, HOST, PORT, run_on_redis
from .report import Goal, Row
from .target import Forsund, next_second, sleep_until

LATENESS_GOAL = Goal.at_most(10, " s")
NODES = ("1", "2")
#: Requests arriving up to this long after the kill may be the dead node's own.
IN_TRANSIT = 1.0
#: Seconds the survivor gets to fire everything (the occurrences' own lease is 150 s).
DEADLINE = 60.0


def run(ctx: Context) -> None:
    run_on_redis(ctx, "takeover", lambda prefix: measure(ctx, f"{prefix}-takeover"))


def measure(ctx: Context, prefix: str) -> None:
    receiver = ctx.receiver()
    count = ctx.profile.takeover_plans
    args = ["--driver", "redis", "--driver-redis-host", HOST, "--driver-redis-port", str(PORT),
            "--driver-redis-db", str(DB), "--driver-redis-prefix", prefix]
    nodes = {node: Forsund.start(ctx.workdir(f"takeover-{node}"),
                                 [*args, "--driver-redis-server-id", node]) for node in NODES}
    client = redis.Redis(host=HOST, port=PORT, db=DB)
    try:
        target = nodes["1"].target
        due_second = next_second(ctx.lead(target, count) + 1)
        due = {key(f"{ctx.tag}k", index): due_second for index in range(count)}
        receiver.reset()
        create_in_time(ctx, target, [fixed(name, second, "http",
                                           {"url": receiver.url(name), "method": "GET"})
                                     for name, second in due.items()], due_second)
        sleep_until(due_second - 0.5)
        victim = wait_for_holder(client, prefix, count, deadline=due_second + 1)
        nodes[victim].kill()
        killed_at = time.time()
        receiver.wait(count, deadline=due_second + DEADLINE)
        time.sleep(ctx.profile.settle)
        records = receiver.records()
    finally:
        client.close()
        for node in nodes.values():
            node.stop()
    first: dict[str, float] = {}
    seen: Counter[str] = Counter()
    for name, _, received in records:
        if name in due:
            seen[name] += 1
            first[name] = min(received, first.get(name, received))
    started = {name for name, at in first.items() if at < killed_at + IN_TRANSIT}
    taken_over = [first[name] - due_second for name in first if name not in started]
    if not taken_over and len(first) == count:
        raise RuntimeError(f"node {victim} was killed after it had fired all {count} "
                           "occurrences (rerun)")
    survivor = next(node for node in NODES if node != victim)
    note = (f"{count:,} plans due at one second, held by node {victim}, killed "
            f"{killed_at - due_second:+.3f} s from that second, {len(started)} of them "
            f"started; node {survivor} fired the others {min(taken_over, default=0):.2f}-"
            f"{max(taken_over, default=0):.2f} s late; default options (node lease 5 s)")
    ctx.add(Row("takeover", "takeover after kill -9: lateness of the dead node's occurrences "
                            "(max)", max(taken_over) if taken_over else None, "s",
                goal=LATENESS_GOAL, note=note))
    ctx.add(Row("takeover", "takeover after kill -9: missing firings", count - len(first),
                "plans", goal=ZERO, note=f"waited up to {DEADLINE:g} s after the due second"))
    ctx.add(Row("takeover", "takeover after kill -9: duplicate firings of occurrences it had "
                            "not started", sum(seen[name] - 1 for name in first
                                               if name not in started), "plans", goal=ZERO,
                note=f"{sum(seen[name] - 1 for name in started)} of the started ones "
                     "fired twice (at-least-once)"))


def wait_for_holder(client: redis.Redis, prefix: str, count: int, deadline: float) -> str:
    """The node whose held set first reaches ``count`` occurrences (polled every 2 ms)."""
    held = {node: f"{{{prefix}}}:held:{node}" for node in NODES}
    while time.time() < deadline:
        pipe = client.pipeline(transaction=False)
        for name in held.values():
            pipe.scard(name)
        for node, size in zip(NODES, pipe.execute(), strict=True):
            if size >= count:
                return node
        time.sleep(0.002)
    raise RuntimeError(f"no node claimed the {count} occurrences before {deadline}")
