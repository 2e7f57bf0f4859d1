"""forsund's logging: ``--log-format json``, a log file moved away by logrotate, the
level in any case (issue 25 item 6)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from datetime import datetime

import pytest

from forsun.logsetup import JsonFormatter, log_handler, make_formatter
from forsun.options import ConfigError
from forsun.testing.options import make_options

JSON_KEYS = {"time", "level", "logger", "message", "pid"}


def test_a_json_line_carries_the_traceback_as_text():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("forsun.engine", logging.ERROR, __file__, 1,
                                   "firing %s failed", ("plan1",), sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert set(entry) == JSON_KEYS | {"exc_info"}
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "ERROR", "forsun.engine", "firing plan1 failed")
    assert entry["exc_info"].startswith("Traceback") and "RuntimeError: boom" in entry["exc_info"]
    assert datetime.fromisoformat(entry["time"]).timestamp() == pytest.approx(record.created,
                                                                              abs=0.001)


def test_json_is_a_reserved_format_and_format_strings_still_work(tmp_path):
    assert isinstance(make_formatter("JSON"), JsonFormatter)
    handler = log_handler(make_options(log=str(tmp_path / "f.log"), log_format="%(message)s!"))
    try:
        record = logging.LogRecord("forsun", logging.INFO, __file__, 1, "hello", None, None)
        assert handler.format(record) == "hello!"
    finally:
        handler.close()
    with pytest.raises(ConfigError, match=r"--log-format '%\(levelname\)': "):
        make_formatter("%(levelname)")


def test_forsund_logs_json_lines_at_a_level_given_in_any_case(forsunds):
    daemon = forsunds.start("--log-format", "json", "--log-level", "Info")
    assert daemon.stop() == 0
    entries = [json.loads(line) for line in daemon.log_text().splitlines()]
    assert all(set(entry) >= JSON_KEYS for entry in entries)
    assert {entry["pid"] for entry in entries} == {daemon.proc.pid}
    levels = {entry["level"] for entry in entries}
    assert "INFO" in levels and "DEBUG" not in levels
    assert entries[-1]["message"] == "forsund stopped" and entries[-1]["logger"] == "forsun"


def test_a_log_file_moved_away_is_written_anew_without_a_signal(forsunds):
    """What logrotate does (rename, then nothing: no copytruncate, no postrotate)."""
    daemon = forsunds.start()
    deadline = time.monotonic() + 10  # it listens a moment before it logs "started"
    while " started: store mem" not in daemon.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    rotated = daemon.log_path.with_name("forsund.log.1")
    daemon.log_path.rename(rotated)
    assert daemon.stop() == 0
    assert "forsund stopped" in daemon.log_text()
    assert "forsund stopped" not in rotated.read_text()
    assert " started: store mem" in rotated.read_text()


def test_sigusr1_sent_out_of_habit_does_not_stop_forsund(forsunds):
    daemon = forsunds.start()
    daemon.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while "SIGUSR1 ignored" not in daemon.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.proc.poll() is None and "SIGUSR1 ignored" in daemon.log_text()
    assert daemon.api("GET", "/v1/ping") is not None
