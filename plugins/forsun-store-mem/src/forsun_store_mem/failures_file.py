"""``FILE.failures``: the mem store's failures list (capability ``failures``) on disk.

One JSON object per line, appended with one ``write`` each (so it reaches the kernel, and
survives SIGKILL, before the call returns): ``{"add": failure}``, ``{"remove": [ids]}``,
``{"remove": null}`` (all), and, first in a compacted file, ``{"dropped": n}``. Replaying
the lines in order rebuilds the list (the bound applied again). A torn last line (a crash
mid-write) is ignored. When the file holds more than twice the lines the list needs, it is
rewritten: a temporary file, fsynced, renamed over it. Failures are rare, so all of this
runs on the event loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Any

from forsun.store.failures import Failure, FailureList

from .log import fsync_dir

log = logging.getLogger(__name__)

#: Lines beyond twice the list's length (plus this) make the file be rewritten.
COMPACT_SLACK = 1000


class FailuresFile:
    """The failures file of the mem store file ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path + ".failures"
        self._fd: int | None = None
        self._lines = 0

    def load(self, failures: FailureList) -> None:
        """Replay the file into the empty ``failures`` and open it for appending."""
        torn = False
        with contextlib.suppress(FileNotFoundError), open(self.path, "rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    self._replay(failures, json.loads(raw))
                except (ValueError, KeyError, TypeError) as exc:
                    if raw.endswith(b"\n"):
                        log.warning("%s line %d is damaged, skipped: %s", self.path, number,
                                    exc)
                    torn = True
                self._lines += 1
        if torn:
            self.compact(failures)
        else:
            self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    @staticmethod
    def _replay(failures: FailureList, entry: dict[str, Any]) -> None:
        if "add" in entry:
            failures.add(Failure.from_dict(entry["add"]))
        elif "remove" in entry:
            failures.remove(entry["remove"])
        else:
            failures.dropped = int(entry["dropped"])

    def append(self, entry: dict[str, Any], failures: FailureList) -> None:
        """Write one line (``failures`` already holds its effect); rewrite the file when
        it has grown past its slack."""
        assert self._fd is not None, "failures file not loaded"
        os.write(self._fd, json.dumps(entry, ensure_ascii=False).encode() + b"\n")
        self._lines += 1
        if self._lines > 2 * len(failures) + COMPACT_SLACK:
            self.compact(failures)

    def compact(self, failures: FailureList) -> None:
        """Rewrite the file as ``failures`` stands."""
        tmp = self.path + ".tmp"
        lines = [{"dropped": failures.dropped}, *({"add": failure.to_dict()}
                                                 for failure in failures)]
        with open(tmp, "wb") as f:
            f.write(b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n"
                             for line in lines))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.path)
        self.close()
        self._lines = len(lines)
        self._open()

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
