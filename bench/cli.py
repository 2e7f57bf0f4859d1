"""``python -m bench``: parse the command line, run the chosen scenarios in order, write the
results (a failing scenario gets a "failed" row and a non-zero exit status; the others
still run)."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import (
    bulkload,
    burst,
    catchup,
    charts,
    create,
    migrate,
    precision,
    redis_store,
    store_size,
    takeover,
)
from .context import Context, load_average
from .original import original
from .profile import choose, parse_runs
from .report import SCENARIOS, Row, write
from .target import REPO, Target

#: The function running each scenario; memory and startup share one (same servers).
RUNNERS: dict[str, Callable[[Context], None]] = {
    "precision": precision.run,
    "burst": burst.run,
    "create": create.run,
    "bulkload": bulkload.run,
    "memory": store_size.run,
    "startup": store_size.run,
    "catchup": catchup.run,
    "redis": redis_store.run,
    "takeover": takeover.run,
    "migrate": migrate.run,
}
#: Scenarios that only use the public APIs, so ``--compare`` runs them on the other server.
COMPARED = ("precision", "create")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="a tiny smoke version of every scenario (under a minute)")
    parser.add_argument("--huge", action="store_true",
                        help="also measure memory and start-up at 10^7 plans (~3 GB RAM)")
    parser.add_argument("--compare", metavar="HOST:THRIFT_PORT:HTTP_PORT",
                        help="also run the public-API scenarios (precision, create) against "
                             "this forsun-compatible server; its plans are removed afterwards")
    parser.add_argument("--against-original", action="store_true",
                        help="start the original forsun 0.1.4 (its virtual environment is "
                             "built once by tests/compat/original.py) and run the public-API "
                             "scenarios against it too")
    parser.add_argument("--receiver-host", default="127.0.0.1",
                        help="address the receiver listens on; --compare's server must reach "
                             "it (default 127.0.0.1)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--precision-runs", metavar="PLANS/SECONDS,...",
                        help="the precision scenario's rates instead of the profile's, e.g. "
                             "100000/60 (1 667 firings/s over 60 s)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results",
                        help="directory for latest.md and latest.json (default bench/results)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch directory (forsund logs and stores)")
    parser.add_argument("--main-arg", action="append", default=[], metavar="FLAG",
                        help="a flag for the forsund that precision, burst and create share "
                             "(repeat it; e.g. --main-arg=--no-metrics measures what a "
                             "setting costs)")
    args = parser.parse_args(list(argv))
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(SCENARIOS)}")
    if args.precision_runs:
        try:
            parse_runs(args.precision_runs)
        except ValueError:
            parser.error("--precision-runs takes PLANS/SECONDS[,PLANS/SECONDS...]")
    if args.compare and args.against_original:
        parser.error("--compare and --against-original each name the compared server; "
                     "give one")
    if args.compare:
        try:
            args.compare = Target.parse(args.compare)
        except ValueError:
            parser.error("--compare takes HOST:THRIFT_PORT:HTTP_PORT")
    return args


def git_revision() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, check=True,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (uncommitted changes)" if dirty else "")


def machine() -> str:
    """The OS, architecture, CPU model and count (figures depend on all of them)."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip() + ", "
                break
    return (f"{platform.system()} {platform.machine()}, {model}{os.cpu_count()} CPUs; "
            "absolute figures hold for this machine only, ratios carry across machines")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    scratch = Path(tempfile.mkdtemp(prefix="forsun-bench-"))
    try:
        with contextlib.ExitStack() as stack:
            if args.against_original:
                args.compare = stack.enter_context(original(scratch / "original"))
            return run(args, scratch, sys.argv[1:] if argv is None else argv)
    finally:
        if args.keep:
            print(f"[bench] scratch kept in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def run(args: argparse.Namespace, scratch: Path, argv: Sequence[str]) -> int:
    profile = choose(args.quick, args.huge, args.precision_runs)
    ctx = Context(profile, scratch, compare=args.compare, receiver_host=args.receiver_host,
                  main_args=tuple(args.main_arg))
    started = time.time()
    meta: dict[str, Any] = {
        "started": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(
            timespec="seconds"),
        "profile": profile.name,
        "command": "python -m bench " + " ".join(argv),
        "revision": git_revision(),
        "python": sys.version.split()[0],
        "machine": machine(),
        "load average at start (1, 5, 15 min)": load_average(),
    }
    timings: dict[str, dict[str, Any]] = {}
    failed = False
    done: set[Callable[[Context], None]] = set()
    try:
        for first in SCENARIOS:
            runner = RUNNERS[first]
            if first not in args.scenarios or runner in done:
                continue
            done.add(runner)
            name = "+".join(n for n in SCENARIOS if n in args.scenarios and RUNNERS[n] is runner)
            print(f"[bench] {name} (load {load_average()})", file=sys.stderr, flush=True)
            entry: dict[str, Any] = {"load_before": load_average()}
            began = time.perf_counter()
            try:
                runner(ctx)
            except Exception as exc:
                failed = True
                traceback.print_exc()
                entry["error"] = f"{type(exc).__name__}: {exc}"
                ctx.add(Row(first, "failed", None, "", note=entry["error"]))
            entry["seconds"] = round(time.perf_counter() - began, 1)
            entry["load_after"] = load_average()
            timings[name] = entry
    finally:
        ctx.close()
    meta["load average at end (1, 5, 15 min)"] = load_average()
    meta["duration"] = f"{time.time() - started:.0f} s"
    meta["scenarios"] = timings
    args.out.mkdir(parents=True, exist_ok=True)
    md_path, json_path = write(args.out, meta, ctx.rows, charts.draw(args.out, ctx.rows,
                                                                     ctx.lateness))
    print(md_path.read_text())
    print(f"[bench] wrote {md_path} and {json_path}", file=sys.stderr)
    return 1 if failed else 0
