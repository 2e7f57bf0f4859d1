"""The local receiver: an aiohttp server in a child process whose clock measures lateness.

Every request to ``/fire`` is recorded as ``(key, due second, receive time)``: the key from
``X-FORSUN-KEY`` (or the ``key`` query argument, for servers that do not send the header),
the due second from ``X-FORSUN-TIMESTAMP``, the receive time from ``time.time()`` when the
handler starts (headers parsed). ``GET /_bench/records`` returns the records,
``POST /_bench/reset`` clears them. Run as ``python -m bench.receiver HOST PORT``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

import attrs

from forsun.testing.services import free_port, reachable

from .target import REPO


def serve(host: str, port: int) -> None:
    from aiohttp import web

    records: list[tuple[str, int | None, float]] = []

    async def fire(request: web.Request) -> web.Response:
        received = time.time()
        key = request.headers.get("X-FORSUN-KEY") or request.query.get("key", "")
        stamp = request.headers.get("X-FORSUN-TIMESTAMP", "")
        records.append((key, int(stamp) if stamp.isdigit() else None, received))
        return web.Response()

    async def dump(request: web.Request) -> web.Response:
        return web.json_response(records)

    async def reset(request: web.Request) -> web.Response:
        records.clear()
        return web.json_response([])

    async def count(request: web.Request) -> web.Response:
        return web.json_response(len(records))

    app = web.Application()
    app.router.add_route("*", "/fire", fire)
    app.router.add_get("/_bench/records", dump)
    app.router.add_get("/_bench/count", count)
    app.router.add_post("/_bench/reset", reset)
    web.run_app(app, host=host, port=port, access_log=None, print=None,
                backlog=4096)


@attrs.define
class Receiver:
    """Handle on a receiver child process listening on ``host:port``."""

    proc: subprocess.Popen[bytes]
    host: str
    port: int

    @classmethod
    def start(cls, host: str = "127.0.0.1") -> Receiver:
        port = free_port(host)
        proc = subprocess.Popen([sys.executable, "-m", "bench.receiver", host, str(port)],
                                cwd=REPO, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not reachable(host, port, 0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the receiver did not listen on {host}:{port}")
            time.sleep(0.05)
        return cls(proc, host, port)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, key: str) -> str:
        """The callback URL of plan ``key``."""
        return f"{self.base}/fire?key={key}"

    def _call(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(self.base + path, method=method,
                                         data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        self._call("/_bench/reset", "POST")

    def count(self) -> int:
        return self._call("/_bench/count")

    def records(self) -> list[tuple[str, int | None, float]]:
        return [(key, ts, received) for key, ts, received in self._call("/_bench/records")]

    def wait(self, expected: int, deadline: float, poll: float = 0.25) -> None:
        """Return once ``expected`` requests arrived or at ``deadline`` (unix time)."""
        while time.time() < deadline and self.count() < expected:
            time.sleep(poll)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
