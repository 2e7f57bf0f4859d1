"""The rate limit on repeated log lines (forsun.logfilter), on a real handler with a clock
the test moves."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from forsun.logfilter import MAX_LINES, RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def output() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def repeats(clock, output) -> Iterator[RepeatFilter]:
    handler = logging.StreamHandler(output)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    repeat_filter = RepeatFilter(handler, 10.0, clock=clock)
    handler.addFilter(repeat_filter)
    logger = logging.getLogger("forsun.test.repeats")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield repeat_filter
    logger.removeHandler(handler)
    logger.propagate = True


def lines(output: io.StringIO) -> list[str]:
    return output.getvalue().splitlines()


def test_an_identical_line_is_written_once_then_counted(repeats, clock, output):
    log = logging.getLogger("forsun.test.repeats")
    for _ in range(1000):
        log.warning("accept failed: %s", "Too many open files")
        clock.now += 0.005
    assert lines(output) == ["WARNING forsun.test.repeats accept failed: Too many open files"]
    clock.now += 10
    log.info("something else")
    assert lines(output)[1:] == [
        "WARNING forsun.test.repeats 999 more like this in the last 10 s: "
        "accept failed: Too many open files",
        "INFO forsun.test.repeats something else",
    ]


def test_lines_that_differ_are_all_written(repeats, output):
    log = logging.getLogger("forsun.test.repeats")
    for key in ("a", "b", "c"):
        log.error("action of %s failed", key)
    log.warning("action of %s failed", "a")  # another level: another line
    assert len(lines(output)) == 4


def test_a_line_is_written_again_in_the_next_window(repeats, clock, output):
    log = logging.getLogger("forsun.test.repeats")
    log.warning("paused")
    clock.now += 10
    log.warning("paused")
    assert lines(output) == ["WARNING forsun.test.repeats paused"] * 2


def test_flush_writes_the_pending_counts(repeats, output):
    log = logging.getLogger("forsun.test.repeats")
    for _ in range(3):
        log.warning("paused")
    repeats.flush()
    assert lines(output)[-1] == ("WARNING forsun.test.repeats 2 more like this in the last "
                                 "10 s: paused")


def test_the_oldest_window_ends_early_beyond_max_lines(repeats, output):
    log = logging.getLogger("forsun.test.repeats")
    log.warning("first")
    log.warning("first")
    for number in range(MAX_LINES + 1):
        log.warning("line %d", number)
    assert "1 more like this in the last 10 s: first" in output.getvalue()
