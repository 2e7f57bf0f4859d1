"""Running real ``forsund`` child processes for end-to-end tests."""

from __future__ import annotations

import functools
import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import psutil

from .services import free_port, reachable

#: Lines of each forsund log printed after a test.
LOG_TAIL_LINES = 100


@attrs.define
class ForsundProcess:
    """A running ``forsund``: ``port`` (Thrift), ``http_port``, ``log_path``."""

    proc: subprocess.Popen[bytes]
    port: int
    http_port: int
    log_path: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def call(self, method: str, path: str, body: Any = None, *,
             timeout: float = 10.0) -> dict[str, Any]:
        """The decoded envelope of one HTTP API request (``body`` sent as JSON)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.http_url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def api(self, method: str, path: str, body: Any = None, *, timeout: float = 10.0) -> Any:
        """The ``data`` of an HTTP API reply; asserts its errcode is 0."""
        reply = self.call(method, path, body, timeout=timeout)
        assert reply["errcode"] == 0, reply
        return reply["data"]

    def rss(self) -> int:
        """Its resident memory now, in bytes."""
        return psutil.Process(self.proc.pid).memory_info().rss

    def cpu_seconds(self) -> float:
        """The CPU time (user + system) it has used so far."""
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` (SIGKILL for a crash) and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)


def start_forsund(args: Sequence[str] = (), *, workdir: Path, port: int | None = None,
                  http_port: int | None = None, env: dict[str, str] | None = None,
                  max_files: int | None = None, ready_timeout: float = 20.0) -> ForsundProcess:
    """Start ``forsund`` with ``args`` plus ``--port``/``--http`` on free ports, logging to
    ``workdir/forsund.log``; return once both ports accept connections. ``max_files``
    limits its descriptors (soft and hard ``RLIMIT_NOFILE``)."""
    port = port or free_port()
    http_port = http_port or free_port()
    log_path = workdir / "forsund.log"
    cmd = [sys.executable, "-m", "forsun.commands.forsund", "--port", str(port),
           "--http", f"127.0.0.1:{http_port}", "--log", str(log_path), *args]
    proc_env = dict(os.environ)
    proc_env.update(env or {})
    with open(workdir / "stderr.log", "ab") as stderr:
        limit = None if max_files is None else functools.partial(_limit_files, max_files)
        proc = subprocess.Popen(cmd, cwd=workdir, env=proc_env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=limit)
    daemon = ForsundProcess(proc, port, http_port, log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stderr = (workdir / "stderr.log").read_text(errors="replace")
            raise RuntimeError(f"forsund exited with {proc.returncode}:\n{stderr}\n"
                               f"{daemon.log_text()}")
        if reachable("127.0.0.1", port, 0.2) and reachable("127.0.0.1", http_port, 0.2):
            return daemon
        time.sleep(0.05)
    daemon.kill()
    raise RuntimeError(f"forsund did not listen within {ready_timeout}s:\n{daemon.log_text()}")


class Forsunds:
    """The forsund processes of one test (or module of tests): :meth:`start` runs one,
    :meth:`close` stops every one still running and prints the end of each log (pytest shows
    it when a test failed). ``workdir`` gives the directory of each process started without
    one."""

    def __init__(self, workdir: Callable[[], Path]) -> None:
        self.workdir = workdir
        self.started: list[ForsundProcess] = []

    def start(self, *args: str, workdir: Path | None = None, **options: Any) -> ForsundProcess:
        """:func:`start_forsund` with ``args`` in ``workdir``; ``options`` as it takes them."""
        daemon = start_forsund(args, workdir=workdir or self.workdir(), **options)
        self.started.append(daemon)
        return daemon

    def close(self) -> None:
        for daemon in self.started:
            daemon.stop()
        for log_path in dict.fromkeys(daemon.log_path for daemon in self.started):
            tail = log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:] \
                if log_path.exists() else []
            print(f"--- the last lines of {log_path}", *tail, sep="\n")


def refused_start(args: Sequence[str] = (), *, workdir: Path) -> str:
    """Start ``forsund`` with ``args`` (as :func:`start_forsund`) expecting it to refuse:
    assert that it exited with status 1 after logging one ``CRITICAL`` line, its last, and
    no traceback; return that line."""
    log_path = workdir / "forsund.log"
    seen = log_path.stat().st_size if log_path.exists() else 0
    try:
        daemon = start_forsund(args, workdir=workdir)
    except RuntimeError as exc:
        assert str(exc).startswith("forsund exited with 1:"), exc
    else:
        daemon.kill()
        raise AssertionError(f"forsund started with {list(args)}")
    with open(log_path, "rb") as f:
        f.seek(seen)
        logged = f.read().decode(errors="replace")
    assert "Traceback" not in logged, logged
    critical = [line for line in logged.splitlines() if " CRITICAL " in line]
    assert len(critical) == 1 and logged.rstrip().endswith(critical[0]), logged
    return critical[0]


def _limit_files(count: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


def leave_files(args: Sequence[str], *, workdir: Path,
                create: Callable[[ForsundProcess], object], clean_stop: bool = False) -> None:
    """Run ``forsund`` with ``args`` in ``workdir``, ``create(daemon)``, then kill it with
    SIGKILL (a crash) or, with ``clean_stop``, stop it with SIGTERM and assert it exited 0:
    the store files such a run leaves behind."""
    daemon = start_forsund(args, workdir=workdir)
    try:
        create(daemon)
    finally:
        if clean_stop:
            assert daemon.stop() == 0
        else:
            daemon.kill()


def flip_bit(path: Path, offset: int | None = None, mask: int = 0x01) -> bytes:
    """Flip the bits ``mask`` of the byte at ``offset`` (the middle one by default) of the
    file ``path``; its new content."""
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2 if offset is None else offset] ^= mask
    path.write_bytes(damaged)
    return bytes(damaged)
