"""``forsund --demon``: detaching, and telling the command that started forsund whether it
started.

The launching process waits until the detached forsund has started, then prints
``forsund started by pid N`` (as the original did) and exits with 0; or until it has
failed to start, then prints the failure in one line on stderr and exits with 1. So a port
in use or a locked data file is not hidden behind a detached process. (With a large mem
store the wait includes its recovery.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


class StartReport:
    """The detached forsund's end of the pipe to its launcher. The first call of
    :meth:`started` or :meth:`failed` is sent; later calls do nothing."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def started(self) -> None:
        self._send(f"started {os.getpid()}")

    def failed(self, line: str) -> None:
        self._send(f"failed {line}")

    def _send(self, message: str) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.write(fd, message.encode())
        except OSError:  # the launcher was killed: nobody to tell
            pass
        finally:
            os.close(fd)


#: The report of a forsund running in the foreground: there is no launcher to tell.
IN_FOREGROUND = StartReport(None)


def daemonize(pid_file: str) -> StartReport:
    """Detach (double fork) and return the report to the launcher, which waits for it; in
    the detached process stdio is /dev/null and ``pid_file`` holds its pid."""
    read_end, write_end = os.pipe()  # not inherited by the commands forsund runs
    if os.fork() > 0:
        os.close(write_end)
        os._exit(_await_report(read_end))
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    Path(pid_file).write_text(f"{os.getpid()}\n")
    return StartReport(write_end)


def _await_report(read_end: int) -> int:
    """The launcher: say what the detached forsund reported; the exit status."""
    with os.fdopen(read_end, "rb") as pipe:
        kind, _, rest = pipe.read().decode(errors="replace").partition(" ")
    if kind == "started":
        print(f"forsund started by pid {rest}", flush=True)
        return 0
    rest = rest or "the detached forsund exited before it started; see its log"
    print(f"forsund: error: {rest}", file=sys.stderr, flush=True)
    return 1
