"""``forsund``: the server. ``forsund [options]`` runs it; ``forsund plugins`` lists plugins.

Start-up order: bootstrap flags (``--conf``, ``--block-plugin``) → plugin manager (built-ins,
entry points, legacy ``--extension`` classes) → every declared option resolved (flags >
INI > the original forsun's environment variables > defaults) → logging → service start.
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
import logging.handlers
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import pluggy

from .. import __version__
from ..gc_schedule import Collector
from ..legacy import config as legacy_config
from ..legacy.argv import daemon_flags
from ..legacy.loading import ExtensionError, load_extensions
from ..logfilter import RepeatFilter
from ..options import ConfigError, Options, bootstrap_parser, read_ini, resolve
from ..plugins import PluginError, collect_options, describe_plugins, get_plugin_manager

log = logging.getLogger("forsun")

DESCRIPTION = "High-precision timed-task service (forsun)."

#: Units of ``--log-rotate`` sizes, as the original read them.
SIZE_UNITS = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


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
                      environ=environment.values)
    if options.server_mode.upper() not in ("", "TIMER"):
        raise ConfigError(f"server_mode {options.server_mode!r}: a node that serves the API "
                          f"without firing is not supported by this release; remove the "
                          f"setting (TIMER, the default, serves and fires)")
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


def log_file(options: Options) -> str:
    """Where forsund logs: ``--log``; ``-`` or nothing is stderr (``""``), except that
    with ``--demon`` nothing is the original's log file."""
    if options.log == "-":
        return ""
    if not options.log and options.demon:
        return legacy_config.DEFAULT_CONFIG["LOG_FILE"]
    return options.log


def log_handler(options: Options) -> logging.Handler:
    """The handler of :func:`log_file`, rotating as ``--log-rotate`` says (the original's
    rules: ``DAY`` at midnight, a size such as ``100M`` by size, keeping
    ``--log-backup-count`` files)."""
    path = log_file(options)
    if not path:
        return logging.StreamHandler()
    rotate = options.log_rotate.strip().upper()
    if not rotate:
        return logging.FileHandler(path)
    if rotate == "DAY":
        return logging.handlers.TimedRotatingFileHandler(
            path, when="MIDNIGHT", backupCount=options.log_backup_count)
    try:
        size = int(float(rotate[:-1]) * SIZE_UNITS[rotate[-1]])
    except (KeyError, ValueError):
        raise ConfigError(f"--log-rotate {options.log_rotate!r}: expected DAY or a size "
                          f"such as 100M (B, K, M or G)") from None
    return logging.handlers.RotatingFileHandler(path, maxBytes=size,
                                                backupCount=options.log_backup_count)


def setup_logging(options: Options, handler: logging.Handler | None = None
                  ) -> RepeatFilter | None:
    """Log to ``handler`` (default: :func:`log_handler`); lines repeated word for word are
    rate-limited by the returned filter (None with ``--log-repeat-window 0``), whose
    ``flush()`` writes the counts still pending."""
    handler = handler or log_handler(options)
    handler.setFormatter(logging.Formatter(options.log_format))
    repeats = None
    if options.log_repeat_window > 0:
        repeats = RepeatFilter(handler, options.log_repeat_window)
        handler.addFilter(repeats)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(options.log_level)
    return repeats


def print_plugins(pm: pluggy.PluginManager, as_json: bool) -> None:
    rows = describe_plugins(pm)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        if row.get("failed"):
            print(f"{row['name']}  FAILED: {row['failed']}")
            continue
        print(f"{row['name']}  ({row['distribution']} {row['version']})")
        for kind in ("stores", "actions", "frontends", "options"):
            if row.get(kind):
                print(f"    {kind}: {', '.join(row[kind])}")
        print(f"    hooks: {', '.join(row['hooks'])}")


async def serve(options: Options, pm: pluggy.PluginManager) -> None:
    """Run a service until SIGTERM, SIGINT or SIGHUP."""
    from ..service import Service

    service = Service(options, pm)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    await service.start()
    collector = Collector(options.gc_interval)
    collector.start()
    log.info("forsund %s started: store %s, node %s, actions %s", __version__, options.driver,
             service.node_id, ", ".join(service.action_registry.names()))
    try:
        await stop.wait()
    finally:
        log.info("forsund stopping")
        await collector.stop()
        await service.stop()
        log.info("forsund stopped")


def daemonize(pid_file: str) -> None:
    """Detach (double fork), say ``forsund started by pid N`` (as the original did),
    redirect stdio to /dev/null and write ``pid_file``."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    print(f"forsund started by pid {os.getpid()}", flush=True)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    Path(pid_file).write_text(f"{os.getpid()}\n")


def main(argv: Sequence[str] | None = None) -> int:
    argv = daemon_flags(sys.argv[1:] if argv is None else argv)
    if "--version" in argv:
        print(f"forsund {__version__}")
        return 0
    try:
        if argv[:1] == ["plugins"]:
            boot, rest = bootstrap_parser().parse_known_args(argv[1:])
            pm = get_plugin_manager(block=boot.block_plugin)
            load_extensions(pm, *_extension_args(rest, boot.conf))
            print_plugins(pm, "--json" in rest)
            return 0
        pm, options, environment = load(argv)
        handler = log_handler(options)  # opened here, so --demon cannot hide a failure
    except (ConfigError, PluginError, ExtensionError) as exc:
        print(f"forsund: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"forsund: error: cannot open the log file {log_file(options)}: "
              f"{exc.strerror or exc} (give a writable one with --log FILE)", file=sys.stderr)
        return 2
    if options.demon:
        daemonize(options.pid_file)
    repeats = setup_logging(options, handler)
    _log_start_up_habits(options, environment)
    try:
        run_loop(serve(options, pm))
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        log.critical("forsund failed: %s", exc, exc_info=not hasattr(exc, "code"))
        return 1
    finally:
        if repeats is not None:
            repeats.flush()
        if options.demon:
            with contextlib.suppress(OSError):
                os.unlink(options.pid_file)
    return 0


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
