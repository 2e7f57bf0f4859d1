"""``forsund``: the server. ``forsund [options]`` runs it; ``forsund SUBCOMMAND`` runs one
of :data:`SUBCOMMANDS` (``plugins``, ``sample-conf``, ...).

A start-up failure (a bad option, an unreadable file, a port in use, a locked data file,
a plugin that cannot be imported) is one line on stderr, ``forsund: error: ...``, and
exit status 1, never a traceback.

Start-up order: bootstrap flags (``--conf``, ``--block-plugin``) → plugin manager (built-ins,
entry points, legacy ``--extension`` classes) → every declared option resolved (flags >
INI > the original forsun's environment variables > defaults) → log file opened → with
``--demon``, detached (:mod:`forsun.daemon`: the launcher waits for the start) → logging →
service start.
SIGTERM, SIGINT and SIGHUP (as in the original) stop it cleanly.

The original's habits it keeps: ``--demon VALUE`` / ``--nodemon VALUE``
(:mod:`forsun.legacy.argv`), its environment variables (:mod:`forsun.legacy.config`), its
log file with ``--demon`` and no ``--log``, ``log_rotate`` / ``log_backup_count``. Unlike
the original it runs in the foreground unless ``--demon`` is given, and says so at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import pluggy

from .. import __version__
from ..daemon import IN_FOREGROUND, daemonize
from ..gc_schedule import Collector
from ..legacy import config as legacy_config
from ..legacy.argv import daemon_flags
from ..legacy.loading import ExtensionError, load_extensions
from ..logsetup import log_file, log_handler, setup_logging
from ..options import ConfigError, Options, bootstrap_parser, read_ini, resolve
from ..plugins import PluginError, collect_options, describe_plugins, get_plugin_manager
from ..sample_conf import render

log = logging.getLogger("forsun")

DESCRIPTION = "High-precision timed-task service (forsun)."


def load(argv: Sequence[str]) -> tuple[pluggy.PluginManager, Options,
                                        legacy_config.Environment]:
    """Build the plugin manager and resolve options for ``argv``; also what the
    original's environment variables set."""
    boot, _ = bootstrap_parser().parse_known_args(list(argv))
    pm = get_plugin_manager(block=boot.block_plugin)
    load_extensions(pm, *_extension_args(argv, boot.conf))
    declared = collect_options(pm)
    environment = legacy_config.environment_values(
        opt for options in declared.values() for opt in options)
    options = resolve(argv, declared, prog="forsund", description=DESCRIPTION,
                      environ=environment.values, epilog=subcommands_help(),
                      version=__version__)
    return pm, options, environment


def _extension_args(argv: Sequence[str], conf: str | None) -> tuple[str, list[str]]:
    """``--extension-path`` and ``--extension`` values, needed before options resolve
    (extensions may register plugins that declare options): flags, else the INI file, else
    (the path) the environment variable ``EXTENSION_PATH``."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--extension-path", default=None)
    parser.add_argument("--extension", action="append", default=[])
    args, _ = parser.parse_known_args(list(argv))
    path, names = args.extension_path, list(args.extension)
    if conf and (path is None or not names):
        section = read_ini(conf).get("extension", {})
        if path is None:
            path = section.get("path")
        if not names:
            names = [n.strip() for n in (section.get("extensions") or "").split(";") if n.strip()]
    if path is None:
        path = os.environ.get("EXTENSION_PATH")
    return path or "", names


def plugins_only(argv: Sequence[str]) -> tuple[pluggy.PluginManager, list[str]]:
    """The plugin manager of ``argv`` (``--conf``, ``--block-plugin``, extensions) and the
    arguments left, for a subcommand that needs the plugins but not a service."""
    boot, rest = bootstrap_parser().parse_known_args(list(argv))
    pm = get_plugin_manager(block=boot.block_plugin)
    load_extensions(pm, *_extension_args(rest, boot.conf))
    return pm, rest


def print_plugins(argv: Sequence[str]) -> None:
    """``forsund plugins [--json]``: each plugin, its distribution and what it registers."""
    pm, rest = plugins_only(argv)
    rows = describe_plugins(pm)
    if "--json" in rest:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        if row.get("failed"):
            print(f"{row['name']}  FAILED: {row['failed']}")
            continue
        print(f"{row['name']}  ({row['distribution']} {row['version']})")
        for kind in ("stores", "actions", "frontends", "routes", "plan_sources",
                     "migration_endpoints", "options"):
            if row.get(kind):
                print(f"    {kind.replace('_', ' ')}: {', '.join(row[kind])}")
        print(f"    hooks: {', '.join(row['hooks'])}")


def print_sample_conf(argv: Sequence[str]) -> None:
    """``forsund sample-conf``: an INI file with every option of the installed plugins,
    its help and default, commented out."""
    pm, _ = plugins_only(argv)
    sys.stdout.write(render(collect_options(pm)))


def migrate(argv: Sequence[str]) -> int:
    """``forsund migrate SRC DST``: see :mod:`forsun.migrate.command`."""
    from ..migrate.command import migrate as run

    pm, rest = plugins_only(argv)
    return run(rest, pm)


#: ``forsund NAME ...``: the function given the arguments after NAME (it returns the exit
#: status, None for 0), and its help line. Adding a subcommand is adding a line here.
SUBCOMMANDS: dict[str, tuple[Callable[[Sequence[str]], int | None], str]] = {
    "plugins": (print_plugins, "list the plugins and what they register (--json)"),
    "sample-conf": (print_sample_conf, "print an INI file of every option and its default"),
    "migrate": (migrate, "copy plans between stores and files: forsund migrate SRC DST"),
}


def subcommands_help() -> str:
    """The subcommand list that ends ``forsund --help``."""
    width = max(map(len, SUBCOMMANDS))
    lines = [f"  forsund {name:<{width}}  {about}" for name, (_, about) in SUBCOMMANDS.items()]
    return "subcommands:\n" + "\n".join(lines)


async def serve(options: Options, pm: pluggy.PluginManager,
                on_started: Callable[[], None] = lambda: None) -> None:
    """Run a service until SIGTERM, SIGINT or SIGHUP (SIGUSR1, which a logrotate
    configuration may send out of habit, is ignored); ``on_started`` is called once it
    serves."""
    from ..service import Service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, log.info, "SIGUSR1 ignored: a log file moved "
                            "away is written anew at the next line, without a signal")
    try:
        service = Service(options, pm)
        await service.start()
    except ValueError as exc:  # a setting the store, engine or a front end cannot use
        log.debug("start-up refused", exc_info=True)
        raise ConfigError(str(exc)) from exc
    collector = Collector(options.gc_interval)
    collector.start()
    log.info("forsund %s started: store %s, node %s, actions %s", __version__, options.driver,
             service.node_id, ", ".join(service.action_registry.names()))
    on_started()
    try:
        await stop.wait()
    finally:
        log.info("forsund stopping")
        await collector.stop()
        await service.stop()
        log.info("forsund stopped")


def main(argv: Sequence[str] | None = None) -> int:
    argv = daemon_flags(sys.argv[1:] if argv is None else argv)
    if "--version" in argv:
        print(f"forsund {__version__}")
        return 0
    options: Options | None = None
    try:
        if argv[:1] and argv[0] in SUBCOMMANDS:
            return SUBCOMMANDS[argv[0]][0](argv[1:]) or 0
        pm, options, environment = load(argv)
        handler = log_handler(options)  # opened here, so --demon cannot hide a failure
    except (ConfigError, PluginError, ExtensionError) as exc:
        return refuse(str(exc))
    except OSError as exc:
        where = log_file(options) if options is not None else ""
        return refuse(f"cannot open the log file {where}: {exc.strerror or exc} "
                      f"(give a writable one with --log FILE)")
    report = daemonize(options.pid_file) if options.demon else IN_FOREGROUND
    repeats = setup_logging(options, handler)
    _log_start_up_habits(options, environment)
    try:
        run_loop(serve(options, pm, report.started))
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        line = failure_line(exc)
        log.critical("forsund failed: %s", line or exc, exc_info=line is None)
        report.failed(line or f"forsund failed: {exc} (its log: {log_file(options)})")
        if line is not None and log_file(options) and not options.demon:
            return refuse(line)  # the log is elsewhere: say it where it was started too
        return 1
    finally:
        report.failed("forsund stopped before it started")  # unless it said already
        if repeats is not None:
            repeats.flush()
        if options.demon:
            with contextlib.suppress(OSError):
                os.unlink(options.pid_file)
    return 0


def refuse(message: str) -> int:
    """Say why forsund does not start, in one line on stderr; the exit status."""
    one_line = re.sub(r"\s*\n\s*", " ", message.strip())
    print(f"forsund: error: {one_line}", file=sys.stderr)
    return 1


def failure_line(exc: BaseException) -> str | None:
    """The one line that says why forsund stopped, for a failure of its surroundings (an
    ``OSError``: a port in use, a file it may not write), a setting refused at start-up or
    an error that carries a code; None for anything else (a bug, logged with its
    traceback)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    if isinstance(exc, ConfigError) or hasattr(exc, "code"):
        return str(exc)
    return None


def _log_start_up_habits(options: Options, environment: legacy_config.Environment) -> None:
    """Say how forsund differs from the original's habits at start-up."""
    if not options.demon:
        log.info("forsund runs in the foreground (the original forsun detached unless "
                 "given --nodemon): start it with --demon to detach, or run it under a "
                 "service manager (docs/forsund.service)")
    if environment.applied:
        log.info("environment variables of the original forsun read (below the INI file "
                 "and the command line): %s", ", ".join(environment.applied))
    for key in environment.unmatched:
        log.warning("environment variable %s (an original forsun setting) has no "
                    "equivalent in this forsund; ignored", key)


def run_loop(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on uvloop when it is installed, else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        uvloop = None
    (uvloop.run if uvloop is not None else asyncio.run)(coro)


if __name__ == "__main__":
    sys.exit(main())
