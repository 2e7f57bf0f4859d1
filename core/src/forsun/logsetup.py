"""Where and how forsund logs: ``--log``, ``--log-rotate``, ``--log-format``,
``--log-level`` and ``--log-repeat-window``.

A log file without ``--log-rotate`` is watched: when logrotate (or anyone) renames or
removes it, the next line is written to a new file of the same name, no signal needed.
``--log-format json`` writes one JSON object per line (:class:`JsonFormatter`); any other
value is a :mod:`logging` format string, checked at start-up.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
from datetime import datetime
from typing import Any

from .legacy import config as legacy_config
from .logfilter import RepeatFilter
from .options import ConfigError, Options

#: Units of ``--log-rotate`` sizes, as the original read them.
SIZE_UNITS = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}

#: The ``--log-format`` value that selects :class:`JsonFormatter`.
JSON_FORMAT = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, local time with its offset, in
    milliseconds), ``level``, ``logger``, ``message``, ``pid``, and ``exc_info`` (the
    traceback as text) or ``stack_info`` when the record carries one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created).astimezone()
                            .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``--log-format``; :class:`ConfigError` if it cannot format a
    record (no field, an unknown field, a stray ``%``)."""
    if log_format.strip().lower() == JSON_FORMAT:
        return JsonFormatter()
    probe = logging.LogRecord("forsun", logging.INFO, __file__, 0, "probe", None, None)
    try:
        formatter = logging.Formatter(log_format, validate=True)
        formatter.format(probe)
    except (ValueError, TypeError) as exc:  # logging turns an unknown field into ValueError
        raise ConfigError(f"--log-format {log_format!r}: {exc} (a logging format string "
                          f"such as '%(asctime)s %(levelname)s %(message)s', or json)") from None
    return formatter


def log_file(options: Options) -> str:
    """Where forsund logs: ``--log``; ``-`` or nothing is stderr (``""``), except that
    with ``--demon`` nothing is the original's log file."""
    if options.log == "-":
        return ""
    if not options.log and options.demon:
        return legacy_config.DEFAULT_CONFIG["LOG_FILE"]
    return options.log


def log_handler(options: Options) -> logging.Handler:
    """The handler of :func:`log_file`, formatting as ``--log-format`` says and rotating
    as ``--log-rotate`` says (the original's rules: ``DAY`` at midnight, a size such as
    ``100M`` by size, keeping ``--log-backup-count`` files); without ``--log-rotate`` a
    log file is reopened when it is moved away. Raises :class:`ConfigError` for a bad
    format or rotation, ``OSError`` when the file cannot be opened."""
    formatter = make_formatter(options.log_format)
    handler = _open_handler(options)
    handler.setFormatter(formatter)
    return handler


def _open_handler(options: Options) -> logging.Handler:
    path = log_file(options)
    if not path:
        return logging.StreamHandler()
    rotate = options.log_rotate.strip().upper()
    if not rotate:
        return logging.handlers.WatchedFileHandler(path)
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


def setup_logging(options: Options, handler: logging.Handler) -> RepeatFilter | None:
    """Log everything at ``--log-level`` and above to ``handler`` (from
    :func:`log_handler`); lines repeated word for word are rate-limited by the returned
    filter (None with ``--log-repeat-window 0``), whose ``flush()`` writes the counts
    still pending."""
    repeats = None
    if options.log_repeat_window > 0:
        repeats = RepeatFilter(handler, options.log_repeat_window)
        handler.addFilter(repeats)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(options.log_level)
    return repeats
