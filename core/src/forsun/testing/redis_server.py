"""Private ``redis-server`` processes for tests that kill, restart, protect or cluster a
Redis of their own (the shared one on 127.0.0.1:6379 serves the rest). Needs the
``redis-server`` executable, not a Redis client library."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from .services import free_port, reachable, require_executable


class RedisServer:
    """A redis-server in ``workdir`` (its data and ``redis.log``) on ``port`` (a free one by
    default; its TLS port when ``tls``), with extra command line ``args``. It can be killed
    and started again on the same port and data."""

    def __init__(self, workdir: Path, args: Sequence[str] = (), *, port: int | None = None,
                 tls: bool = False) -> None:
        self.executable = require_executable("redis-server")
        self.workdir = workdir
        self.port = port or free_port()
        self.args = list(args)
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> None:
        """Start it; with ``wait``, return once it accepts connections."""
        listen = ["--port", "0", "--tls-port", str(self.port)] if self.tls else \
            ["--port", str(self.port)]
        cmd = [self.executable, *listen, "--bind", "127.0.0.1", "--dir", str(self.workdir),
               "--save", "", "--logfile", str(self.workdir / "redis.log"), *self.args]
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.workdir / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{log}")
            if reachable("127.0.0.1", self.port, 0.2):
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not listen on {self.port} within {timeout}s")

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed beyond what the server already wrote."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
