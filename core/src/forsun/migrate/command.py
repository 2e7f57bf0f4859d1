"""``forsund migrate SRC DST [--prefix P] [--dry-run]``: copy every plan of SRC into DST
with its schedule state, offline (no forsund may be using SRC: a locked store is refused).

Each plan keeps its key, fields, action, params, ``next_time``, ``current_count``,
``last_timeout`` and ``created_time``; a plan that was executing in SRC (claimed) is written
waiting, so its occurrence fires again in DST (at least once, as after a crash). A plan whose
``next_time`` passed fires once when forsund starts on DST (the engine's catch-up). Writing
replaces by key, so running the same migration twice leaves the same plans.

The report (stdout; stderr when DST is ``ndjson:-``) says what was read, written (and how
many of those replaced a plan DST held, each named on stderr), skipped (by kind, each
skipped record named on stderr) and how many plans DST holds under the prefix. The exit
status is 1 when SRC could not be read to its end, a record was skipped for an error
(``finished`` plans are not an error), or DST's count disagrees: it must be what it held
before plus the plans written less those that replaced one (a DST that cannot tell which
keys it held: at least the number written, at most that plus what it held before).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, TextIO

import attrs
import pluggy

from ..errors import ForsunPlanError
from ..options import Options
from ..plan import STATUS_EXECUTING, STATUS_WAITING, Plan
from ..plugins import collect_actions, collect_options
from .endpoints import EndpointError, Sink, Skipped, Source, parse
from .progress import Progress
from .stores import StoreEndpoint

#: Skipped records named on stderr per kind (the rest are counted).
NAMED_PER_KIND = 20
#: Kinds of skipped records that are not an error.
NOT_ERRORS = frozenset({"finished"})


@attrs.define
class Tally:
    read: int = 0
    written: int = 0
    #: plans written over a plan DST held already (None: DST cannot tell)
    replaced: int | None = 0
    skipped: Counter[str] = attrs.field(factory=Counter)
    before: int | None = None
    found: int | None = None
    failure: str | None = None

    def agrees(self) -> bool | None:
        """Whether DST's count fits what was written (None: DST cannot count)."""
        if self.found is None:
            return None
        if self.replaced is not None:
            return self.found == (self.before or 0) + self.written - self.replaced
        if not self.before:
            return self.found == self.written
        return self.written <= self.found <= self.before + self.written


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forsund migrate",
        description="Copy every plan of SRC into DST, schedule state included (offline).",
        epilog="SRC/DST: mem:PATH, redis://[:password@]host:port/db?prefix=NAME, "
               "ndjson:PATH (ndjson:- is stdin/stdout); sources only: forsun0:PATH (the "
               "original forsun's mem dump) and those plugins register, e.g. "
               "forsun0+redis://host:port/db?prefix=forsun, "
               "timerush+redis://host:port/db?key=_timerush_redis_data_")
    parser.add_argument("src", metavar="SRC")
    parser.add_argument("dst", metavar="DST")
    parser.add_argument("--prefix", default="", help="only plans whose key starts with it")
    parser.add_argument("--dry-run", action="store_true",
                        help="read SRC and report, write nothing (DST is not opened)")
    return parser


def migrate(argv: Sequence[str], pm: pluggy.PluginManager) -> int:
    """Run ``forsund migrate`` with ``argv`` (after the subcommand); the exit status."""
    args = parser().parse_args(list(argv))
    progress_log = logging.getLogger("forsun.migrate")
    if not progress_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("forsund migrate: %(message)s"))
        progress_log.addHandler(handler)
        progress_log.setLevel(logging.INFO)
    if args.src == args.dst:
        return _refuse("SRC and DST are the same")
    try:
        src = parse(args.src, pm)
        dst = parse(args.dst, pm, sink=True)
    except EndpointError as exc:
        return _refuse(str(exc))
    assert isinstance(dst, Sink)
    actions = Actions(pm)
    try:
        tally = asyncio.run(_run(src, dst, args.prefix, args.dry_run, actions))
    except EndpointError as exc:
        return _refuse(str(exc))
    except Exception as exc:  # a store failing part way (connection lost, disk full)
        kept = ("nothing was stored in DST" if dst.stores_at_end
                else "the pages written before it are stored")
        return _refuse(f"{type(exc).__name__}: {exc} ({kept}; run the migration again to "
                       f"finish it)")
    _report(tally, args.dry_run, sys.stderr if args.dst == "ndjson:-" else sys.stdout)
    if tally.failure is not None:
        print(f"forsund migrate: error: {tally.failure}", file=sys.stderr)
    errors = sum(n for kind, n in tally.skipped.items() if kind not in NOT_ERRORS)
    return 1 if tally.failure or errors or tally.agrees() is False else 0


async def _run(src: Source, dst: Sink, prefix: str, dry_run: bool,
               actions: Actions) -> Tally:
    tally = Tally()
    named: dict[str, int] = defaultdict(int)
    await src.open()
    try:
        if isinstance(src, StoreEndpoint):
            await src.refuse_if_in_use()
        if not dry_run:
            await dst.open()
        try:
            if not dry_run:
                tally.before = await dst.count(prefix)
            with Progress("migrating", await src.total(prefix)) as progress:
                try:
                    async for page in src.pages(prefix):
                        plans = _checked(page, actions, tally, named)
                        tally.read += len(page)
                        if plans and not dry_run:
                            await _note_replaced(dst, plans, tally, named)
                            await dst.write(plans)
                        tally.written += len(plans)
                        progress.advance(len(page))
                except EndpointError as exc:  # a source ending early: keep what was written
                    tally.failure = str(exc)
            if not dry_run:
                tally.found = await dst.count(prefix)
        finally:
            if not dry_run:
                await dst.close()
    finally:
        await src.close()
    return tally


class Actions:
    """The installed actions, each built once (default options) to check params as a
    creation does (:meth:`forsun.action.base.Action.validate`)."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.registry = collect_actions(pm)
        self.options = Options([opt for opts in collect_options(pm).values() for opt in opts])
        self._built: dict[str, Any] = {}

    def refusal(self, plan: Plan) -> Skipped | None:
        """Why ``plan`` cannot be written, or None."""
        where = f"key {plan.key!r}"
        if plan.action not in self.registry:
            return Skipped("unknown action", where, f"action {plan.action!r} is not "
                           f"installed (installed: {', '.join(self.registry.names())})")
        action = self._built.get(plan.action)
        if action is None:
            action = self._built[plan.action] = self.registry[plan.action].factory(
                self.options)
            action.name = plan.action
        try:
            action.validate(plan.params)
        except ForsunPlanError as exc:
            return Skipped("invalid", where, exc.message)
        return None


async def _note_replaced(dst: Sink, plans: list[Plan], tally: Tally,
                         named: dict[str, int]) -> None:
    """Count (and name on stderr) the plans that replace one DST held already."""
    if tally.replaced is None:
        return
    held = await dst.existing([plan.key for plan in plans])
    if held is None:
        tally.replaced = None
        return
    tally.replaced += len(held)
    for key in sorted(held):
        named["replaced"] += 1
        if named["replaced"] <= NAMED_PER_KIND:
            print(f"replaced key {key!r}: DST held a plan with this key", file=sys.stderr)


def _checked(page: list[Plan | Skipped], actions: Actions, tally: Tally,
             named: dict[str, int]) -> list[Plan]:
    """The plans of ``page`` that can be written; the others counted and named on stderr."""
    plans: list[Plan] = []
    for item in page:
        if isinstance(item, Plan):
            item = actions.refusal(item) or item
        if isinstance(item, Skipped):
            tally.skipped[item.kind] += 1
            named[item.kind] += 1
            if named[item.kind] <= NAMED_PER_KIND:
                print(f"skipped ({item.kind}) {item.where}: {item.why}", file=sys.stderr)
            continue
        if item.status == STATUS_EXECUTING:
            item.status = STATUS_WAITING
        plans.append(item)
    return plans


def _report(tally: Tally, dry_run: bool, out: TextIO) -> None:
    verb = "would write" if dry_run else "written"
    lines = [f"read         {tally.read}", f"{verb:<12} {tally.written}"]
    if not dry_run and tally.replaced is not None:
        lines.append(f"  replacing a plan DST held: {tally.replaced}")
    lines.append(f"skipped      {sum(tally.skipped.values())}")
    lines += [f"  {kind}: {count}" for kind, count in sorted(tally.skipped.items())]
    hidden = {k: n - NAMED_PER_KIND for k, n in tally.skipped.items() if n > NAMED_PER_KIND}
    if tally.replaced and tally.replaced > NAMED_PER_KIND:
        hidden["replaced"] = tally.replaced - NAMED_PER_KIND
    lines += [f"  ({n} more {kind} not named above)" for kind, n in sorted(hidden.items())]
    if not dry_run:
        agrees = tally.agrees()
        found = "cannot count" if tally.found is None else str(tally.found)
        before = f" (before: {tally.before})" if tally.before else ""
        verdict = {True: "agrees", False: "DISAGREES", None: "not checked"}[agrees]
        lines.append(f"in DST       {found}{before}: {verdict}")
    print("\n".join(lines), file=out)


def _refuse(message: str) -> int:
    print(f"forsund migrate: error: {message}", file=sys.stderr)
    return 1
