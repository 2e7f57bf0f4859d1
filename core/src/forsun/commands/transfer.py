"""``forsun export`` and ``forsun import``: a running forsund's plans to NDJSON and back,
over its HTTP API (:mod:`forsun.transfer`), schedule state included.

``forsun export [--prefix P] [-o FILE]`` writes one plan per line (to ``FILE.tmp``, renamed
to FILE once whole; stdout without ``-o``). ``forsun import FILE`` (``-`` for stdin) sends
batches of :data:`forsun.transfer.BATCH` lines; a line that is not a JSON object, or a plan
the server refuses, is reported with its line number and left out, and the import goes on
(``--stop-on-error``: it stops there). Both show a progress bar on a terminal and a log
line every few seconds otherwise. Exit status as ``forsun``'s: 1 when a line was refused,
3 when the server cannot be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import orjson

from ..errors import ForsunPlanError
from ..migrate.progress import Progress
from ..transfer import BATCH, export_plans, import_plans, refused_index

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
DEFAULT_HTTP = "http://127.0.0.1:8080"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forsun", description="Export or import the plans "
                                     "of a running forsund over its HTTP API (--http).")
    parser.add_argument("--http", default=os.environ.get("FORSUN_HTTP", DEFAULT_HTTP),
                        metavar="URL", help=f"forsund's HTTP API (default: $FORSUN_HTTP or "
                                            f"{DEFAULT_HTTP})")
    parser.add_argument("--token", default=os.environ.get("FORSUN_TOKEN", ""),
                        help="forsund's --token (default: $FORSUN_TOKEN)")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="every plan as NDJSON")
    export.add_argument("--prefix", default="", help="only keys starting with it")
    export.add_argument("-o", "--output", default="-", metavar="FILE",
                        help="write here (default: stdout)")
    imports = commands.add_parser("import", help="create or replace the plans of an NDJSON "
                                                 "file, with their schedule state")
    imports.add_argument("file", metavar="FILE", help="NDJSON (- for stdin)")
    imports.add_argument("--stop-on-error", action="store_true",
                         help="stop at the first refused line")
    for sub in (export, imports):  # also after the command: forsun export --http URL
        sub.add_argument("--http", default=argparse.SUPPRESS, metavar="URL")
        sub.add_argument("--token", default=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    log = logging.getLogger("forsun.migrate")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"forsun {args.command}: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    try:
        if args.command == "export":
            return export(args.http, args.token, args.prefix, args.output)
        return import_file(args.http, args.token, args.file, args.stop_on_error)
    except ConnectionError as exc:
        print(f"forsun {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except OSError as exc:
        print(f"forsun {args.command}: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE


def export(url: str, token: str, prefix: str, output: str) -> int:
    count = 0
    with _output(output) as out, Progress("exporting") as progress:
        for plan in export_plans(url, prefix, token=token):
            out.write(orjson.dumps(plan) + b"\n")
            count += 1
            progress.advance(1)
    print(f"forsun export: {count} plans", file=sys.stderr)
    return EXIT_OK


@contextlib.contextmanager
def _output(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.flush()
        return
    with open(path + ".tmp", "wb") as out:
        yield out
        out.flush()
        os.fsync(out.fileno())
    os.replace(path + ".tmp", path)


def import_file(url: str, token: str, path: str, stop_on_error: bool) -> int:
    stored = refused = 0
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    with stream, Progress("importing") as progress:
        for batch, bad in _batches(stream):
            for number, why in bad:
                refused += 1
                print(f"line {number}: {why}", file=sys.stderr)
            if bad and stop_on_error:
                break
            done, failed = _send(url, token, batch, stop_on_error)
            stored += done
            refused += len(failed)
            for number, why in failed:
                print(f"line {number}: {why}", file=sys.stderr)
            progress.advance(len(batch) + len(bad))
            if failed and stop_on_error:
                break
    print(f"forsun import: {stored} plans stored, {refused} lines refused", file=sys.stderr)
    return EXIT_REFUSED if refused else EXIT_OK


def _batches(stream: IO[bytes]) -> Iterator[tuple[list[tuple[int, dict[str, Any]]],
                                                  list[tuple[int, str]]]]:
    """``(plans with their line numbers, lines that are no plan object)``, BATCH lines at
    a time."""
    batch: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            plan = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            bad.append((number, f"not JSON: {exc}"))
            continue
        if not isinstance(plan, dict):
            bad.append((number, "not a JSON object"))
            continue
        batch.append((number, plan))
        if len(batch) + len(bad) >= BATCH:
            yield batch, bad
            batch, bad = [], []
    if batch or bad:
        yield batch, bad


def _send(url: str, token: str, batch: list[tuple[int, dict[str, Any]]],
          stop_on_error: bool) -> tuple[int, list[tuple[int, str]]]:
    """Store ``batch`` (all or none per request): a plan the server refuses is left out and
    the rest sent again. ``(plans stored, (line, why) refused)``."""
    failed: list[tuple[int, str]] = []
    while batch:
        try:
            return import_plans(url, [plan for _, plan in batch], token=token), failed
        except ForsunPlanError as exc:
            refused = refused_index(exc)
            if refused is None or refused[0] >= len(batch):
                raise ConnectionError(f"the server failed to store lines {batch[0][0]}-"
                                      f"{batch[-1][0]}: {exc}") from None
            number, _ = batch.pop(refused[0])
            failed.append((number, f"[{exc.code}] {refused[1]}"))
            if stop_on_error:
                return 0, failed
    return 0, failed
