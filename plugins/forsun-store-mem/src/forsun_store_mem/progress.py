"""Progress of a long start-up step (loading a snapshot, replaying a log).

On a terminal with ``rich`` installed it draws a progress bar on stderr; otherwise it logs a
line every few seconds. Steps smaller than :data:`QUIET_BYTES` report nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

QUIET_BYTES = 32 << 20
LOG_EVERY = 5.0


class Progress:
    """``with Progress("loading FILE", total_bytes) as p: p.update(done_bytes)``."""

    def __init__(self, description: str, total: int) -> None:
        self.description = description
        self.total = max(total, 1)
        self.enabled = total >= QUIET_BYTES
        self._bar: Any = None
        self._task: Any = None
        self._last_log = time.monotonic()

    def __enter__(self) -> Progress:
        if self.enabled and sys.stderr.isatty():
            try:
                from rich.console import Console
                from rich.progress import Progress as RichProgress
            except ImportError:
                pass
            else:
                self._bar = RichProgress(console=Console(stderr=True), transient=True)
                self._bar.start()
                self._task = self._bar.add_task(self.description, total=self.total)
        return self

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=done)
            return
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY:
            self._last_log = now
            log.info("%s: %d%% (%d of %d MiB)", self.description, 100 * done // self.total,
                     done >> 20, self.total >> 20)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
