"""How big each scenario is: the default run, ``--quick`` (a smoke run of every scenario in
well under a minute) and the additions of ``--huge``."""

from __future__ import annotations

import attrs

from forsun.frontends.http import DEFAULT_MAX_BODY_SIZE


@attrs.frozen
class Profile:
    """Sizes of one run (plans, seconds)."""

    name: str
    #: seconds between creating plans and their first due second (plus creation time), and
    #: seconds to wait for late duplicates once everything expected arrived
    margin: float
    settle: float
    #: precision: (plans, the seconds their due times spread over) per rate measured, and
    #: the longest spread the ideal timer gets (same rate per second)
    precision_runs: tuple[tuple[int, int], ...]
    ideal_spread: int
    #: precision: the largest run a compared server (``--compare``) gets as well
    compared_plans: int
    #: precision of the engine alone: (plans, spread) fired with the noop action, on an
    #: empty store and next to this many far-future plans created at run time
    engine_run: tuple[int, int]
    engine_background: int
    #: burst: plans due in one second (no-op action), and through the http action
    burst_plans: int
    burst_http_plans: int
    #: create: single calls per client kind, plans per bulk request, bulk plans per round,
    #: rounds per bulk row (its median is reported)
    create_calls: int
    bulk_batch: int
    bulk_plans: int
    bulk_rounds: int
    #: bulkload: firings per second and the seconds they last; bulk creations sent at once
    #: during them, and the size of each body in bytes
    bulkload_rate: int
    bulkload_spread: int
    bulkload_batches: int
    bulkload_body: int
    #: memory / start-up: store sizes
    store_sizes: tuple[int, ...]
    #: catch-up: seconds forsund is down, plans due per missed second
    catchup_down: int
    catchup_rate: int
    #: redis: plans put and fired
    redis_plans: int
    redis_fire_plans: int
    #: takeover: plans due at the second the killed node holds
    takeover_plans: int
    #: migrate: plans moved per size measured
    migrate_sizes: tuple[int, ...] = (100_000, 1_000_000)


DEFAULT = Profile(
    name="default", margin=3.0, settle=1.0,
    precision_runs=((10_000, 60), (100_000, 60), (100, 20)), ideal_spread=15,
    compared_plans=10_000, engine_run=(2_000, 12),
    engine_background=1_000_000,
    burst_plans=100_000, burst_http_plans=10_000,
    create_calls=5_000, bulk_batch=10_000, bulk_plans=100_000, bulk_rounds=3,
    bulkload_rate=20, bulkload_spread=20, bulkload_batches=4,
    bulkload_body=DEFAULT_MAX_BODY_SIZE,
    store_sizes=(100_000, 1_000_000),
    catchup_down=10, catchup_rate=200,
    redis_plans=100_000, redis_fire_plans=20_000,
    takeover_plans=1_000,
)

QUICK = Profile(
    name="quick", margin=1.0, settle=0.3,
    precision_runs=((300, 3), (1_000, 2), (6, 3)), ideal_spread=2,
    compared_plans=300, engine_run=(200, 2),
    engine_background=2_000,
    burst_plans=2_000, burst_http_plans=300,
    create_calls=200, bulk_batch=500, bulk_plans=1_000, bulk_rounds=1,
    bulkload_rate=20, bulkload_spread=3, bulkload_batches=2, bulkload_body=1 << 20,
    # enough plans (~5 MB) to stand above the heap the warm-up left free
    store_sizes=(20_000,),
    catchup_down=2, catchup_rate=50,
    redis_plans=1_000, redis_fire_plans=500,
    takeover_plans=50,
    migrate_sizes=(10_000,),
)

#: Store size added by ``--huge``.
HUGE_SIZE = 10_000_000


def parse_runs(text: str) -> tuple[tuple[int, int], ...]:
    """``PLANS/SECONDS,...`` (e.g. ``100000/60,100/20``) as precision runs; ValueError."""
    runs = []
    for item in text.split(","):
        plans, _, seconds = item.strip().partition("/")
        run = int(plans), int(seconds)
        if min(run) < 1:
            raise ValueError(f"not PLANS/SECONDS: {item!r}")
        runs.append(run)
    return tuple(runs)


def choose(quick: bool, huge: bool, precision_runs: str | None = None) -> Profile:
    profile = QUICK if quick else DEFAULT
    if precision_runs:
        profile = attrs.evolve(profile, precision_runs=parse_runs(precision_runs))
    if huge:
        profile = attrs.evolve(profile, name=profile.name + "+huge",
                               store_sizes=(*profile.store_sizes, HUGE_SIZE))
    return profile
