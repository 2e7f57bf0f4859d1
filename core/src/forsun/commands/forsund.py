"""``forsund``: the server. ``forsund [options]`` runs it; ``forsund plugins`` lists plugins.

Start-up order: bootstrap flags (``--conf``, ``--block-plugin``) → plugin manager (built-ins,
entry points, legacy ``--extension`` classes) → every declared option resolved (flags >
INI > defaults) → logging → service start. SIGTERM and SIGINT stop it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import pluggy

from .. import __version__
from ..gc_schedule import Collector
from ..legacy.loading import ExtensionError, load_extensions
from ..logfilter import RepeatFilter
from ..options import ConfigError, Options, bootstrap_parser, read_ini, resolve
from ..plugins import PluginError, collect_options, describe_plugins, get_plugin_manager

log = logging.getLogger("forsun")

DESCRIPTION = "High-precision timed-task service (forsun)."


def load(argv: Sequence[str]) -> tuple[pluggy.PluginManager, Options]:
    """Build the plugin manager and resolve options for ``argv``."""
    boot, _ = bootstrap_parser().parse_known_args(list(argv))
    pm = get_plugin_manager(block=boot.block_plugin)
    ext_path, ext_names = _extension_args(argv, boot.conf)
    load_extensions(pm, ext_path, ext_names)
    options = resolve(argv, collect_options(pm), prog="forsund", description=DESCRIPTION)
    return pm, options


def _extension_args(argv: Sequence[str], conf: str | None) -> tuple[str, list[str]]:
    """``--extension-path`` and ``--extension`` values, needed before options resolve
    (extensions may register plugins that declare options)."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--extension-path", default=None)
    parser.add_argument("--extension", action="append", default=[])
    args, _ = parser.parse_known_args(list(argv))
    path, names = args.extension_path, list(args.extension)
    if conf and (path is None or not names):
        section = read_ini(conf).get("extension", {})
        if path is None:
            path = section.get("path") or ""
        if not names:
            names = [n.strip() for n in (section.get("extensions") or "").split(";") if n.strip()]
    return path or "", names


def setup_logging(options: Options) -> RepeatFilter | None:
    """Log to ``--log`` (or stderr); lines repeated word for word are rate-limited by the
    returned filter (None with ``--log-repeat-window 0``), whose ``flush()`` writes the
    counts still pending."""
    handler: logging.Handler
    handler = logging.FileHandler(options.log) if options.log else logging.StreamHandler()
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
        print(f"{row['name']}  ({row['distribution']} {row['version']})")
        for kind in ("stores", "actions", "frontends", "options"):
            if row.get(kind):
                print(f"    {kind}: {', '.join(row[kind])}")
        print(f"    hooks: {', '.join(row['hooks'])}")


async def serve(options: Options, pm: pluggy.PluginManager) -> None:
    """Run a service until SIGTERM/SIGINT."""
    from ..service import Service

    service = Service(options, pm)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
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
    """Detach (double fork), redirect stdio to /dev/null and write ``pid_file``."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    Path(pid_file).write_text(f"{os.getpid()}\n")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--nodemon" in argv:  # the original's spelling of --no-demon
        argv = [("--no-demon" if a == "--nodemon" else a) for a in argv]
    if "--version" in argv:
        print(f"forsund {__version__}")
        return 0
    try:
        if argv[:1] == ["plugins"]:
            boot, rest = bootstrap_parser().parse_known_args(argv[1:])
            print_plugins(get_plugin_manager(block=boot.block_plugin), "--json" in rest)
            return 0
        pm, options = load(argv)
    except (ConfigError, PluginError, ExtensionError) as exc:
        print(f"forsund: error: {exc}", file=sys.stderr)
        return 2
    if options.demon:
        daemonize(options.pid_file)
    repeats = setup_logging(options)
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


def run_loop(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on uvloop when it is installed, else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        uvloop = None
    (uvloop.run if uvloop is not None else asyncio.run)(coro)


if __name__ == "__main__":
    sys.exit(main())
