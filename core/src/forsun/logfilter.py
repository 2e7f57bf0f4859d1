"""Rate-limited logging: a line repeated word for word is written once per window, then
how many more came.

A flood of identical lines (connections refused at the cap, accepts failing for want of
descriptors, an action failing the same way every second) must neither fill the disk nor
keep the event loop busy formatting them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

#: Distinct lines remembered at once; beyond, the oldest window ends early.
MAX_LINES = 4096

_Key = tuple[str, int, str]


class RepeatFilter(logging.Filter):
    """A filter for ``handler``. The first record of a line (same logger, level and
    message) passes and opens a window of ``window`` seconds; identical records within the
    window are counted instead. When the window is over, the next record the handler
    receives (or :meth:`flush`) first emits ``N more like this in the last T s: LINE``
    through the handler, at the line's level, if N > 0."""

    def __init__(self, handler: logging.Handler, window: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.handler = handler
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        #: Open windows, oldest first: line -> [start, repeats, where it was logged].
        self._open: dict[_Key, list] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "forsun_repeats", False):
            return True
        key = (record.name, record.levelno, record.getMessage())
        now = self.clock()
        with self._lock:
            summaries = self._close(now - self.window)
            seen = self._open.get(key)
            if seen is not None:
                seen[1] += 1
            else:
                self._open[key] = [now, 0, (record.pathname, record.lineno, record.funcName)]
        for summary in summaries:
            self.handler.handle(summary)
        return seen is None

    def flush(self) -> None:
        """Emit the counts of every open window now (at exit)."""
        with self._lock:
            summaries = self._close(float("inf"))
        for summary in summaries:
            self.handler.handle(summary)

    def _close(self, opened_before: float) -> list[logging.LogRecord]:
        """End the windows opened before ``opened_before`` (and the oldest beyond
        :data:`MAX_LINES`); the summaries of those that counted repeats."""
        summaries = []
        while self._open:
            key, (start, repeats, (path, lineno, func)) = next(iter(self._open.items()))
            if start > opened_before and len(self._open) <= MAX_LINES:
                break
            del self._open[key]
            if repeats:
                name, level, line = key
                summary = logging.LogRecord(
                    name, level, path, lineno, "%d more like this in the last %g s: %s",
                    (repeats, self.window, line), None, func)
                summary.forsun_repeats = True
                summaries.append(summary)
        return summaries
