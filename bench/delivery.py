"""Having plans fired at the receiver, by a forsun-compatible server or by the ideal timer,
and summarizing what the receiver saw."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

from .context import Context
from .lateness import Lateness, summarize
from .plans import fixed, key
from .target import REPO, Target, next_second

#: Extra seconds the ideal timer gets to start (a fresh interpreter importing the action).
IDEAL_START = 1.5


def schedule(ctx: Context, target: Target | None, prefix: str, count: int,
             spread: int) -> dict[str, int]:
    """``count`` keys due round-robin over ``spread`` seconds, the first due second far
    enough ahead to create them on ``target`` (:meth:`Context.lead`), or to start the ideal
    timer (``target`` None). The receiver is started first, so its start-up does not eat
    into that lead."""
    ctx.receiver()
    lead = ctx.lead(target, count) if target else ctx.profile.margin + IDEAL_START
    first = next_second(lead)
    return {key(prefix, index): first + index % spread for index in range(count)}


def create_in_time(ctx: Context, target: Target, plans: list[dict], first_due: int) -> None:
    """Bulk-create ``plans`` on ``target``; RuntimeError if that ran past ``first_due``."""
    seconds = target.create_bulk(plans, ctx.profile.bulk_batch)
    ctx.created(target, len(plans), seconds)
    if time.time() >= first_due:
        raise RuntimeError(f"creating {len(plans)} plans took {seconds:.1f} s: past their "
                           "first due second (rerun: the next run leaves more time)")


def fire_via(ctx: Context, target: Target, due: dict[str, int], timeout: float = 120.0,
             during: Callable[[], object] | None = None) -> Lateness:
    """Create ``due``'s plans on ``target`` with the http action calling the receiver,
    call ``during()`` (load to fire under), wait until all arrived (or ``timeout`` after
    the last due second), then the profile's ``settle`` seconds more for duplicates, and
    summarize."""
    receiver = ctx.receiver()
    plans = [fixed(name, second, "http", {"url": receiver.url(name), "method": "GET"})
             for name, second in due.items()]
    receiver.reset()
    create_in_time(ctx, target, plans, min(due.values()))
    if during is not None:
        during()
    receiver.wait(len(due), deadline=max(due.values()) + timeout)
    time.sleep(ctx.profile.settle)
    return summarize(due, receiver.records())


def fire_ideal(ctx: Context, due: dict[str, int]) -> Lateness:
    """Have the ideal timer (:mod:`bench.ideal`) call the receiver for ``due``."""
    receiver = ctx.receiver()
    path = ctx.scratch / "ideal-calls.json"
    path.write_text(json.dumps([[name, receiver.url(name), second]
                                for name, second in due.items()]))
    receiver.reset()
    subprocess.run([sys.executable, "-m", "bench.ideal", str(path)], cwd=REPO, check=True,
                   timeout=max(due.values()) - time.time() + 300)
    receiver.wait(len(due), deadline=time.time() + 5)
    time.sleep(ctx.profile.settle)
    return summarize(due, receiver.records())
