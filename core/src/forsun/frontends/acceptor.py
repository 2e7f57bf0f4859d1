"""Accepting the connections of a front end without spinning when descriptors run out.

Both servers the front ends used to rely on spin when ``accept()`` fails with EMFILE:
tornado leaves the listening socket registered, so the loop wakes at once to fail again;
asyncio (3.11-3.13) logs a traceback and schedules a retry for every connection of its
accept batch instead of stopping, so its retries multiply. An :class:`Acceptor` accepts
in batches and, on EMFILE, ENFILE, ENOBUFS or ENOMEM, stops watching its sockets for
:data:`PAUSE` seconds (the waiting connections stay queued in the kernel) and says so in
one warning line.

The connection cap (``--max-connections``) is the front end's: it decides, for each
accepted socket, whether to serve it. :func:`connection_limit` gives the cap's value and
:func:`idle_timeout` checks ``--idle-timeout``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

#: Seconds accepting pauses after the process ran out of descriptors (or memory).
PAUSE = 0.5
#: Connections accepted per wake-up: a burst of clients must not delay the next firing.
BATCH = 64
#: ``accept()`` failures that mean "out of a resource", not "this one connection failed".
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: Share of the descriptor soft limit each front end may hold as connections by default.
DEFAULT_SHARE = 4
#: Descriptors assumed when the soft limit is unlimited.
UNLIMITED_FILES = 1 << 20


def close_if_never_ran(conn: socket.socket, task: asyncio.Task[Any]) -> None:
    """Close ``conn`` when the task that was to serve it was cancelled before it ran: no
    transport took the socket. (The serving tasks of both front ends end normally even when
    cancelled, so ``cancelled()`` means exactly that.)"""
    if task.cancelled():
        conn.close()


def connection_limit(configured: int) -> int:
    """The connection cap of one front end: ``configured`` when positive, else a quarter
    of the descriptor soft limit, so that with both front ends full half of the
    descriptors remain for actions, the store and the log. ValueError if negative."""
    if configured < 0:
        raise ValueError(f"--max-connections {configured}: must be 0 (automatic) or more")
    if configured:
        return configured
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = UNLIMITED_FILES if soft == resource.RLIM_INFINITY else soft
    return max(1, files // DEFAULT_SHARE)


def idle_timeout(seconds: float) -> float:
    """``seconds`` when it can serve as ``--idle-timeout``; ValueError otherwise."""
    if not seconds > 0:
        raise ValueError(f"--idle-timeout {seconds}: must be positive")
    return seconds


class Acceptor:
    """Accepts connections on ``sockets`` (listening, non-blocking) and hands each to
    ``on_accept(connection, address)`` as a non-blocking socket, which then owns it.
    ``flag`` names the front end's listening option in log lines."""

    def __init__(self, sockets: Iterable[socket.socket],
                 on_accept: Callable[[socket.socket, Any], None], *, flag: str) -> None:
        self.sockets = list(sockets)
        self.on_accept = on_accept
        self.flag = flag
        self._loop = asyncio.get_running_loop()
        self._resume: asyncio.TimerHandle | None = None

    def start(self) -> None:
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def close(self) -> None:
        """Stop accepting and close the listening sockets."""
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        for sock in self.sockets:
            if sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
                sock.close()

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(BATCH):
            try:
                conn, address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in OUT_OF_RESOURCES:
                    self._pause(exc)
                    return
                # Linux reports some network errors of the pending connection itself here.
                log.warning("%s: accepting a connection failed: %s", self.flag, exc)
                continue
            conn.setblocking(False)
            self.on_accept(conn, address)

    def _pause(self, exc: OSError) -> None:
        """Stop watching every socket for :data:`PAUSE` seconds."""
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())
        self._resume = self._loop.call_later(PAUSE, self._unpause)
        log.warning("%s: cannot accept connections (%s); pausing accepts for %g s. Raise the "
                    "descriptor limit (ulimit -n) or lower --max-connections",
                    self.flag, exc.strerror or exc, PAUSE)

    def _unpause(self) -> None:
        self._resume = None
        self.start()
