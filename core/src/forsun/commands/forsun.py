"""``forsun``: the command-line client (DESIGN 3.4), compatible with the original's.

``forsun [--host H] [--port P] [--json | -v] CMD...`` (or ``--exe CMD``) runs a command line
and exits; with none it opens an interactive prompt (stdlib :mod:`cmd` + :mod:`readline`: line
editing, tab completion of commands and keys, a history file ``~/.forsun_history``; no extra
dependency). The command line is one argument (``forsun "get job1"``) or several that are
taken as its words already split (``forsun get "my key"``); ``;`` outside quotes separates
commands (``forsun "set a ...; get a"``). ``set`` lines are parsed by :mod:`forsun.setline`,
the parser the HTTP crontab body uses.

Output comes in three styles:

- by default, the original forsun's, which scripts parse (:mod:`forsun.legacy.cli_output`):
  one line per plan, ``success`` after ``rm``, the version alone, its ``info`` layout, the
  prompt ``forsun>`` after a welcome banner (piped input too), and a refusal as
  ``cmd ForsunPlanError:  CODE MESSAGE`` on stdout;
- ``-v`` / ``--verbose``: for people (every field, aligned tables, times in the server's zone
  as ISO 8601, ``info`` grouped), errors on stderr as ``error CODE: message`` or
  ``error: message``; piped input runs without a prompt;
- ``--json``: one JSON document per command (plans as the HTTP API's ``data``), errors as
  with ``-v``.

The exit status: :data:`EXIT_REFUSED` when a plan operation is refused (by the server, or by
the set-line parser with the code the server would give), :data:`EXIT_USAGE` for a command
line that cannot be run, :data:`EXIT_UNREACHABLE` when forsund cannot be reached (the
original said 1 for all three). A command line stops at its first failing command. Piped into
the prompt (``forsun < commands``), every command runs and the exit status is that of the
last failed one.
"""

from __future__ import annotations

import argparse
import cmd
import contextlib
import datetime
import json
import os
import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from .. import __version__
from ..client import DEFAULT_PORT, Client, HttpClient, HttpUnreachable
from ..errors import ForsunPlanError
from ..legacy import cli_output
from ..plan import (
    STATUS_EXECUTING,
    STATUS_FAILED,
    STATUS_FINISHED,
    STATUS_SUCCEEDED,
    STATUS_WAITING,
    Plan,
)
from ..schedule import get_zone
from ..setline import (
    format_fields,
    format_set_line,
    plan_from_words,
    quote,
    split_quoted,
    split_words,
)

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

STATUS_NAMES = {STATUS_WAITING: "waiting", STATUS_EXECUTING: "executing",
                STATUS_FINISHED: "finished", STATUS_FAILED: "failed"}
#: Plan fields holding unix seconds (0: never / unknown).
TIME_FIELDS = ("next_time", "last_timeout", "created_time")
#: Words that leave the prompt.
EXIT_WORDS = ("exit", "quit")
#: Output styles (see the module docstring).
ORIGINAL, VERBOSE, JSON = "original", "verbose", "json"


@attrs.frozen
class Command:
    """One client command: its usage line, what it does, how many arguments it takes
    (``max_args`` None: any number)."""

    usage: str
    summary: str
    min_args: int = 0
    max_args: int | None = 0
    example: str = ""

    def help(self) -> str:
        text = textwrap.fill(self.summary, 88, initial_indent="    ",
                             subsequent_indent="    ")
        return f"{self.usage}\n{text}" + (f"\n    e.g. {self.example}" if self.example else "")


COMMANDS = {
    "set": Command("set KEY S M H D MON W ACTION 'PARAMS'",
                   "create or replace a plan. A field is N (exact value), * (any), */N (a "
                   "delay of N units) or */N/COUNT (fired COUNT times, 0 = forever); sh and "
                   "bash mean shell; PARAMS is k=v;k2='quoted v', or a bare string: the shell "
                   "cmd, the http url.",
                   0, None, "set job1 */5/1 * * * * * shell 'cmd=ls'"),
    "get": Command("get KEY", "show a plan, every field", 1, 1),
    "rm": Command("rm KEY", "remove a plan and show it", 1, 1),
    "ls": Command("ls [PREFIX]", "list the keys starting with PREFIX", 0, 1),
    "current": Command("current", "plans due this second"),
    "time": Command('time [TIMESTAMP | "Y-m-d H:M:S"]',
                    "plans due at that second (a date without offset is in the server's "
                    "time zone); none: now", 0, None),
    "info": Command("info", "server, plugins and counters"),
    "failures": Command("failures [PREFIX]", "occurrences that failed every attempt, newest "
                        "first (of keys starting with PREFIX), with their ids; needs --http",
                        0, 1),
    "retry": Command("retry ID... | all", "fire failures again now; each leaves the list once "
                     "it succeeds; needs --http", 1, None, "retry 1700000000:order:1"),
    "discard": Command("discard ID... | all", "remove failures from the list; needs --http",
                       1, None),
    "history": Command("history [KEY]", "recent firing outcomes on the node asked, newest "
                       "first (of plan KEY); needs --http", 0, 1),
    "fire": Command("fire KEY", "fire a plan once now (its schedule goes on unchanged); "
                    "needs --http", 1, 1),
    "version": Command("version", "client and server versions"),
    "help": Command("help [COMMAND]", "this text, or the part about COMMAND", 0, 1),
    "exit": Command("exit", "leave the prompt (also quit, Ctrl-D)"),
}

#: ``info`` keys shown under "server"; "plugins" holds :data:`PLUGIN_LISTS` and every key
#: no section claims (figures that plugins add), "counters" the ``*_count`` and lateness keys.
SERVER_KEYS = ("forsun_version", "python_version", "start_time", "uptime", "current_time",
               "timezone", "node_id", "bind_port", "http_bind_port", "cpu_user", "cpu_system",
               "mem_rss", "mem_vms", "plan_count")
PLUGIN_LISTS = ("stores", "current_store", "actions", "extensions", "frontends")


class UsageError(Exception):
    """A command line the client cannot run."""


class UnknownCommand(UsageError):
    """A command name the client does not know: ``name``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown command {name!r} (type help)")
        self.name = name


def split_commands(line: str) -> list[str]:
    """The commands of ``line``: its parts between ``;`` outside quotes."""
    return [part for part in split_quoted(line, ";") if part.strip()]


def status_name(plan: Plan) -> str:
    """The word for ``plan.status``: 1 is "succeeded" for a plan that has fired its last
    time (kept for status_expried), "executing" for another."""
    if plan.status == STATUS_SUCCEEDED and plan.count and plan.current_count >= plan.count:
        return "succeeded"
    return STATUS_NAMES.get(plan.status, str(plan.status))


def original_delay_fields(plan: Plan) -> Plan:
    """A delay plan of a set line with the fields the original's ``set`` sent: ``week``
    -1 when it is not ``*/N``, where :mod:`forsun.setline` writes 0 (both count as no
    interval); so the stored plan is the original's."""
    if plan.is_time_out and plan.week <= 0:
        plan.week = -1
    return plan


class Console:
    """Runs command lines against one server and prints their results in a ``style``
    (:data:`ORIGINAL`, :data:`VERBOSE` or :data:`JSON`)."""

    def __init__(self, client: Client, *, style: str = ORIGINAL,
                 http: HttpClient | None = None) -> None:
        self.client = client
        self.style = style
        self._http = http
        self._zone: datetime.tzinfo | None = None

    def http(self, command: str) -> HttpClient:
        """The HTTP API client the operator's commands need (``--http``)."""
        if self._http is None:
            raise UsageError(f"{command} uses the server's HTTP API: give --http HOST:PORT "
                             f"(forsund's --http; or $FORSUN_HTTP)")
        return self._http

    @property
    def as_json(self) -> bool:
        return self.style == JSON

    @property
    def original(self) -> bool:
        return self.style == ORIGINAL

    def run(self, line: str) -> None:
        """Run one command. Raises :class:`ForsunPlanError` (refused),
        :class:`UsageError` or :class:`ConnectionError`."""
        words = split_words(line)
        if not words:
            return
        name, args = words[0].lower(), words[1:]
        command = COMMANDS.get(name)
        if command is None:
            raise UnknownCommand(words[0])
        if len(args) < command.min_args or (command.max_args is not None
                                            and len(args) > command.max_args):
            raise UsageError(f"usage: {command.usage}")
        getattr(self, f"do_{name}")(args)

    # -- commands ----------------------------------------------------------------------

    def do_help(self, args: list[str]) -> None:
        if self.original:
            print(cli_output.HELP)
            return
        names = [args[0].lower()] if args else list(COMMANDS)
        if names[0] not in COMMANDS:
            raise UsageError(f"unknown command {args[0]!r} (type help)")
        entries = {name: COMMANDS[name] for name in names}
        self._emit({name: {"usage": c.usage, "summary": c.summary, "example": c.example}
                    for name, c in entries.items()},
                   "\n".join(c.help() for c in entries.values()))

    def do_exit(self, args: list[str]) -> None:
        """Nothing to leave outside the prompt (the prompt stops before running it)."""

    def do_version(self, args: list[str]) -> None:
        if self.original:
            print(__version__)
            return
        info = self.client.info()
        server, python = info.get("forsun_version", "?"), info.get("python_version", "?")
        self._emit({"client": __version__, "server": server, "server_python": python},
                   f"client  forsun {__version__}\nserver  forsun {server} (python {python})")

    def do_set(self, args: list[str]) -> None:
        plan = original_delay_fields(plan_from_words(args))
        fields = dict(second=plan.second, minute=plan.minute, hour=plan.hour, day=plan.day,
                      month=plan.month, week=plan.week, action=plan.action,
                      params=plan.params)
        if plan.is_time_out:
            created = self.client.create_timeout(plan.key, count=plan.count, **fields)
        else:
            created = self.client.create(plan.key, **fields)
        self._show_plan(created)

    def do_get(self, args: list[str]) -> None:
        self._show_plan(self.client.get(args[0]))

    def do_rm(self, args: list[str]) -> None:
        plan = self.client.remove(args[0])
        if self.original:
            print("success")
        else:
            self._show_plan(plan)

    def do_ls(self, args: list[str]) -> None:
        keys = self.client.get_keys(args[0] if args else "")
        if self.original:
            for key in keys:
                with contextlib.suppress(ForsunPlanError):  # gone since it was listed
                    print(cli_output.plan_line(self.client.get(key)))
            return
        self._emit(keys, "\n".join(keys) if keys else "(no plans)")

    def do_current(self, args: list[str]) -> None:
        self._show_plans(self.client.get_current(), "due now")

    def do_time(self, args: list[str]) -> None:
        if not args or self.original:
            timestamp = self.parse_time(" ".join(args)) if args else 0
            self._show_plans(self.client.get_time(timestamp), "due now")
            return
        timestamp = self.parse_time(" ".join(args))
        self._show_plans(self.client.get_time(timestamp),
                         f"due at {self.iso(timestamp)} ({timestamp})")

    def do_info(self, args: list[str]) -> None:
        info = self.client.info()
        if self.original:
            print("\n".join(cli_output.info_lines(info)))
            return
        self._emit(info, self._info_text(info))

    def do_failures(self, args: list[str]) -> None:
        page = self.http("failures").failures(prefix=args[0] if args else "", limit=1000)
        if self.as_json:
            self._print_json(page.to_dict())
            return
        title = f"{page.total} failure(s)" + (f", {page.dropped} dropped (oldest, beyond "
                                               f"--failures-max)" if page.dropped else "")
        if not page.items:
            print(title)
            return
        header = ("id", "action", "attempts", "failed_at", "node", "error")
        rows = [(f.id, f.action, str(f.attempts), self.iso(f.failed_at), f.node,
                 f.error.splitlines()[0] if f.error else "") for f in page.items]
        print(f"{title}\n{_table(header, rows)}")

    @staticmethod
    def _ids(args: list[str]) -> list[str] | None:
        return None if [arg.lower() for arg in args] == ["all"] else args

    def do_retry(self, args: list[str]) -> None:
        retried = self.http("retry").retry(self._ids(args))
        self._emit({"retried": retried}, f"{retried} failure(s) fired again")

    def do_discard(self, args: list[str]) -> None:
        discarded = self.http("discard").discard(self._ids(args))
        self._emit({"discarded": discarded}, f"{discarded} failure(s) discarded")

    def do_history(self, args: list[str]) -> None:
        outcomes = self.http("history").history(args[0] if args else None, limit=100)
        if self.as_json:
            self._print_json(outcomes)
            return
        if not outcomes:
            print("no outcomes" + (f" of {args[0]}" if args else "") + " on this node")
            return
        header = ("start", "key", "due", "action", "attempt", "ms", "result")
        rows = [(self.iso(o["start"]), o["key"], str(o["due"]), o["action"],
                 str(o["attempt"]), f"{o['duration'] * 1000:.1f}",
                 "ok" if o["ok"] else f"error: {(o['error'] or '').splitlines()[0]}")
                for o in outcomes]
        print(_table(header, rows))

    def do_fire(self, args: list[str]) -> None:
        self.http("fire").fire(args[0])
        self._emit({"fired": True}, f"{args[0]} fired")

    # -- times -------------------------------------------------------------------------

    @property
    def zone(self) -> datetime.tzinfo:
        """The server's time zone (``info()["timezone"]``), read once per session; UTC,
        with a warning, when this machine does not know it."""
        if self._zone is None:
            name = (self._http.overview()["timezone"] if self._http is not None
                    else self.client.info().get("timezone", "UTC"))
            try:
                self._zone = get_zone(name)
            except ValueError:
                print(f"warning: the server's time zone {name!r} is unknown here (install "
                      f"tzdata); times are shown in UTC", file=sys.stderr)
                self._zone = datetime.UTC
        return self._zone

    def parse_time(self, text: str) -> int:
        """A unix second, or ISO 8601 / ``Y-m-d H:M:S`` (without offset: the server's
        zone) as a unix second."""
        text = text.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(f"time: {text!r} is neither a unix timestamp nor "
                             f"\"Y-m-d H:M:S\"") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return int(moment.timestamp())

    def iso(self, seconds: float) -> str:
        """``seconds`` as ISO 8601 in the server's zone; ``-`` for 0 (never / unknown)."""
        if not seconds:
            return "-"
        return datetime.datetime.fromtimestamp(seconds, self.zone).isoformat(timespec="seconds")

    # -- formatting --------------------------------------------------------------------

    def _show_plan(self, plan: Plan) -> None:
        if self.original:
            print(cli_output.plan_line(plan))
            return
        data = plan.to_dict()
        if self.as_json:
            self._print_json(data)
            return
        shown: dict[str, str] = {}
        for name, value in data.items():
            if name in TIME_FIELDS:
                shown[name] = f"{value}  {self.iso(value)}" if value else "-"
            elif name == "status":
                shown[name] = f"{value} ({status_name(plan)})"
            elif name == "params":
                shown[name] = json.dumps(value, ensure_ascii=False)
            else:
                shown[name] = str(value)
        print(f"{format_set_line(plan)}\n{_aligned(shown.items())}")

    def _show_plans(self, plans: Sequence[Plan], title: str) -> None:
        if self.original:
            for plan in plans:
                print(cli_output.plan_line(plan))
            return
        if self.as_json:
            self._print_json([p.to_dict() for p in plans])
            return
        if not plans:
            print(f"no plans {title}")
            return
        header = ("key", "action", "schedule", "next_time", "fired", "status")
        rows = [(p.key, p.action, " ".join(format_fields(p)), self.iso(p.next_time),
                 f"{p.current_count}/{p.count or 'forever'}",
                 status_name(p)) for p in plans]
        print(f"{len(plans)} plan(s) {title}\n{_table(header, rows)}")

    def _info_text(self, info: dict[str, str]) -> str:
        counters = {k for k in info if (k.endswith("_count") and k not in SERVER_KEYS)
                    or k.startswith("lateness_")}
        sections = {
            "server": [(k, self._info_value(k, info[k])) for k in SERVER_KEYS if k in info],
            "plugins": [(k, _list_value(info[k])) for k in PLUGIN_LISTS if k in info]
                       + [(k, info[k]) for k in sorted(info) if k not in counters
                          and k not in SERVER_KEYS and k not in PLUGIN_LISTS],
            "counters": [(k, info[k]) for k in sorted(counters)],
        }
        width = max((len(k) for rows in sections.values() for k, _ in rows), default=0)
        return "\n".join(f"{title}\n{_aligned(rows, indent='  ', width=width)}"
                         for title, rows in sections.items() if rows)

    def _info_value(self, key: str, value: str) -> str:
        if key == "current_time" and value.isdigit():
            return f"{value}  {self.iso(int(value))}"
        if key in ("mem_rss", "mem_vms") and value.isdigit():
            return f"{value}  ({int(value) / (1 << 20):.1f} MiB)"
        if key == "uptime" and value.isdigit():
            return f"{value}  ({datetime.timedelta(seconds=int(value))})"
        return value

    def _emit(self, data: Any, text: str) -> None:
        """Print ``data`` as JSON with ``--json``, else ``text``."""
        if self.as_json:
            self._print_json(data)
        else:
            print(text)

    @staticmethod
    def _print_json(data: Any) -> None:
        print(json.dumps(data, ensure_ascii=False, indent=2))


def _list_value(value: str) -> str:
    return ", ".join(item for item in value.split(";") if item) or "(none)"


def _aligned(rows: Iterable[tuple[str, str]], indent: str = "", width: int = 0) -> str:
    rows = list(rows)
    width = max([width, *(len(name) for name, _ in rows)])
    return "\n".join(f"{indent}{name.ljust(width)}  {value}".rstrip() for name, value in rows)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip() for row in (header, *rows))


def run_reporting(console: Console, line: str, *, keep_going: bool = False) -> int:
    """Run the commands of ``line``, printing each error as the console's style does;
    return the exit status of the first that failed (``keep_going``: of the last, after
    running them all)."""
    status = EXIT_OK
    for command in split_commands(line):
        failed = _run_reporting_one(console, command)
        if failed:
            status = failed
            if not keep_going:
                break
    return status


def _run_reporting_one(console: Console, command: str) -> int:
    original = console.original
    try:
        console.run(command)
    except ForsunPlanError as exc:
        _error(original, cli_output.error_line(exc.code, exc.message),
               f"error {exc.code}: {exc.message}")
        return EXIT_REFUSED
    except UnknownCommand as exc:
        _error(original, f"Unknown cmd  {exc.name}", f"error: {exc}")
        return EXIT_USAGE
    except UsageError as exc:
        _error(original, f"cmd error:  {exc}", f"error: {exc}")
        return EXIT_USAGE
    except BrokenPipeError:
        raise
    except HttpUnreachable as exc:
        _error(original, f"connect forsun server fail:  {exc}", f"error: {exc}")
        return EXIT_UNREACHABLE
    except ConnectionError as exc:
        client = console.client
        detail = getattr(exc.__cause__, "message", None) or exc
        _error(original, f"connect forsun server fail:  {detail}",
               f"error: cannot reach forsund at {client.host}:{client.port}: {detail}")
        return EXIT_UNREACHABLE
    return EXIT_OK


def _error(original: bool, original_text: str, text: str) -> None:
    """Print an error: the original's line on stdout, else ours on stderr."""
    if original:
        print(original_text)
    else:
        print(text, file=sys.stderr)


class Prompt(cmd.Cmd):
    """The interactive prompt: each line runs through :func:`run_reporting`; ``status``
    is the exit status of the last command that failed. In the original style it prints
    the original's banner and prompt (piped input too) and a blank line after each
    command that succeeded."""

    def __init__(self, console: Console, address: str, *, tty: bool) -> None:
        super().__init__()
        self.console = console
        self.status = EXIT_OK
        self.tty = tty
        if console.original:
            self.prompt = cli_output.PROMPT
            self.intro = cli_output.BANNER.format(version=__version__)
        else:
            self.prompt = f"forsun {address}> " if tty else ""
            self.intro = f"forsun {__version__} - type help for commands, exit to leave" \
                if tty else None

    def onecmd(self, line: str) -> bool:
        if line == "EOF":  # what cmd.Cmd reads at end of input (Ctrl-D)
            if self.tty:
                print()
            return True
        for command in split_commands(line):
            if command.strip().lower() in EXIT_WORDS:
                return True
            status = run_reporting(self.console, command)
            if status:
                self.status = status
            elif self.console.original:
                print()
        return False

    def completenames(self, text: str, *ignored: Any) -> list[str]:
        return [f"{name} " for name in (*COMMANDS, "quit") if name.startswith(text)]

    def completedefault(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        """Keys, as the argument of ``get``, ``rm`` and ``ls``."""
        if line[:begidx].split() not in (["get"], ["rm"], ["ls"]):
            return []
        try:
            return [f"{key} " for key in self.console.client.get_keys(text)]
        except (ForsunPlanError, ConnectionError):
            return []


def interactive(console: Console, address: str) -> int:
    """Read command lines from stdin until ``exit`` or end of input; Ctrl-C abandons the
    line being typed or the command running."""
    tty = sys.stdin.isatty()
    prompt = Prompt(console, address, tty=tty)
    readline = _line_editing() if tty else None
    history = Path.home() / ".forsun_history"
    if readline is not None:
        with contextlib.suppress(OSError):  # no history yet
            readline.read_history_file(history)
    try:
        while True:
            try:
                prompt.cmdloop()
                break
            except KeyboardInterrupt:
                print("^C")
                prompt.intro = None
    finally:
        if readline is not None:
            try:
                readline.write_history_file(history)
            except OSError as exc:
                print(f"warning: history not saved to {history}: {exc}", file=sys.stderr)
    return EXIT_OK if tty else prompt.status


def _line_editing() -> ModuleType | None:
    """:mod:`readline`, set up for the prompt; None on a Python built without it (plain
    ``input()`` still works)."""
    try:
        import readline
    except ImportError:
        return None
    readline.set_completer_delims(" \t\n'\"")  # keys may contain ':', '-', '/', ...
    readline.set_history_length(1000)
    return readline


def command_line(words: Sequence[str]) -> str:
    """The command line of ``forsun``'s positional arguments: one argument is the whole
    line; several are its words, already split (re-quoted here)."""
    if len(words) == 1:
        return words[0]
    return " ".join(quote(word) for word in words)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forsun", description="forsun command-line client: run CMD, or open a prompt.",
        epilog="commands:\n" + "\n".join(f"  {c.usage}" for c in COMMANDS.values())
               + "\n  export [--prefix P] [-o FILE]   (--http URL: the plans as NDJSON)"
               + "\n  import FILE [--stop-on-error]   (--http URL: plans of an NDJSON file)"
               + "\n\ncommands in one line are separated by ';'"
               + f"\n\nexit status: {EXIT_OK} ok, {EXIT_REFUSED} refused by the server, "
                 f"{EXIT_USAGE} usage, {EXIT_UNREACHABLE} server unreachable",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("FORSUN_HOST", "127.0.0.1"),
                        help="forsund address (default: $FORSUN_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("FORSUN_PORT", DEFAULT_PORT)),
                        help=f"forsund Thrift port (default: $FORSUN_PORT or {DEFAULT_PORT})")
    parser.add_argument("--http", default=os.environ.get("FORSUN_HTTP", ""),
                        metavar="HOST:PORT",
                        help="forsund's HTTP API (its --http), which failures, retry, "
                             "discard, history and fire use (default: $FORSUN_HTTP)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="bound on connecting and on each reply (default 10)")
    parser.add_argument("--token", default=os.environ.get("FORSUN_TOKEN", ""),
                        help="shared token of a forsund started with --token "
                             "(default: $FORSUN_TOKEN)")
    style = parser.add_mutually_exclusive_group()
    style.add_argument("--json", dest="style", action="store_const", const=JSON,
                       default=ORIGINAL, help="print JSON, for scripts")
    style.add_argument("-v", "--verbose", dest="style", action="store_const", const=VERBOSE,
                       help="print every field, for people (the default is the original "
                            "forsun's output)")
    parser.add_argument("--exe", default="", metavar="CMD",
                        help="the command line to run (as the original forsun; CMD "
                             "arguments win over it)")
    parser.add_argument("--version", action="version", version=f"forsun {__version__}")
    parser.add_argument("command", nargs="*", metavar="CMD", help="a command; see help")
    return parser


#: ``forsun NAME ...`` run by their own module rather than the prompt's commands.
TRANSFER_COMMANDS = ("export", "import")


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] and (words[0] in TRANSFER_COMMANDS or words[0].startswith("--http")):
        from .transfer import main as transfer

        return transfer(words)
    args = build_parser().parse_args(argv)
    line = command_line(args.command) if args.command else args.exe
    with Client(args.host, args.port, timeout=args.timeout, max_connections=1,
                token=args.token) as client:
        http = HttpClient(args.http, token=args.token, timeout=args.timeout) \
            if args.http else None
        console = Console(client, style=args.style, http=http)
        try:
            if line:
                status = run_reporting(console, line)
            else:
                status = interactive(console, f"{args.host}:{args.port}")
            sys.stdout.flush()  # here, so that a reader gone away is handled below
            return status
        except BrokenPipeError:
            # The reader went away (forsun ls | head): stop quietly, as other tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
