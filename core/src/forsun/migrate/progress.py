"""Progress of a long count of plans: a rich progress bar (count, rate, ETA) on a terminal,
else a log line every :data:`LOG_EVERY` seconds."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import Any

log = logging.getLogger("forsun.migrate")

LOG_EVERY = 5.0


class Progress:
    """``with Progress("migrating", total) as p: p.advance(n)``; ``total`` None: unknown."""

    def __init__(self, description: str, total: int | None = None) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self._bar: Any = None
        self._task: Any = None
        self._started = self._last_log = time.monotonic()

    def __enter__(self) -> Progress:
        if sys.stderr.isatty():
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    TaskProgressColumn,
                    TextColumn,
                    TimeRemainingColumn,
                )
                from rich.progress import Progress as RichProgress
            except ImportError:
                pass
            else:
                self._bar = RichProgress(
                    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TaskProgressColumn(), TextColumn("{task.fields[rate]}"),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=True)
                self._bar.start()
                self._task = self._bar.add_task(self.description, total=self.total, rate="")
        return self

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        rate = self.done / max(now - self._started, 1e-9)
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, rate=f"{rate:,.0f} plans/s")
            return
        if now - self._last_log >= LOG_EVERY:
            self._last_log = now
            of = f" of {self.total}" if self.total is not None else ""
            log.info("%s: %d%s plans (%.0f plans/s)", self.description, self.done, of, rate)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
