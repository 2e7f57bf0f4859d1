"""Baseline servers, each run in its own child process like forsund:

- ``thrift PORT``: a bare thriftpy2 threaded server of the same ``Forsun`` IDL (binary
  protocol, buffered transport) whose ``ping`` returns 0 and whose ``create`` /
  ``createTimeout`` echo their arguments as a plan: no validation, no store. The same client
  code runs against it and against forsund.
- ``tornado PORT``: a bare tornado app on forsund's create paths that only decodes the body
  and answers the envelope: ``PUT``/``POST /v1/plan`` echo the JSON object, ``POST
  /v1/plans`` echoes the JSON array, or for ``application/crontab`` answers one
  ``{"key": ...}`` per line; with ``?reply=keys`` it answers only the keys.

:class:`BareServer` starts one of them and waits until it listens. :func:`bare_tasks_seconds`
is the burst baseline: a bare asyncio loop running N tasks of a no-op coroutine (the floor
of firing N occurrences as tasks in Python).
"""

from __future__ import annotations

import subprocess
import sys
import time

import attrs

from forsun.testing.services import free_port, reachable

from .target import REPO


def serve_thrift(port: int) -> None:
    import thriftpy2.rpc

    from forsun.idl import load_idl

    idl = load_idl()

    class Handler:
        def ping(self) -> int:
            return 0

        def create(self, key, second, minute, hour, day, month, week, action, params):
            return idl.ForsunPlan(is_time_out=False, key=key, second=second, minute=minute,
                                  hour=hour, day=day, month=month, week=week,
                                  next_time=int(time.time()), action=action, params=params)

        def createTimeout(self, key, second, minute, hour, day, month, week, count,
                          action, params):
            return idl.ForsunPlan(is_time_out=True, key=key, second=second, minute=minute,
                                  hour=hour, day=day, month=month, week=week, count=count,
                                  next_time=int(time.time()) + second, action=action,
                                  params=params)

    server = thriftpy2.rpc.make_server(idl.Forsun, Handler(), "127.0.0.1", port,
                                       client_timeout=None)
    server.serve()


def serve_tornado(port: int) -> None:
    import asyncio
    import json

    import tornado.web

    def envelope(data: object) -> str:
        return json.dumps({"errcode": 0, "errmsg": "", "data": data}, separators=(",", ":"))

    class PlanHandler(tornado.web.RequestHandler):
        def put(self) -> None:
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(envelope(json.loads(self.request.body)))

        post = put

    class PlansHandler(tornado.web.RequestHandler):
        def post(self) -> None:
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            if self.request.headers.get("Content-Type", "").startswith("application/crontab"):
                lines = self.request.body.decode().splitlines()
                data = [{"key": line.split()[1]} for line in lines if line.strip()]
            else:
                data = json.loads(self.request.body)
            if self.get_query_argument("reply", "") == "keys":
                data = [item["key"] for item in data]
            self.finish(envelope(data))

    async def main() -> None:
        app = tornado.web.Application([(r"/v1/plan", PlanHandler), (r"/v1/plans", PlansHandler)],
                                      log_function=lambda handler: None)
        app.listen(port, "127.0.0.1", max_body_size=64 << 20)
        await asyncio.Event().wait()

    asyncio.run(main())


def bare_tasks_seconds(count: int) -> float:
    """Seconds a fresh asyncio loop takes to create, run and gather ``count`` no-op tasks."""
    import asyncio

    async def noop() -> None:
        return None

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(asyncio.create_task(noop()) for _ in range(count)))
        return time.perf_counter() - started

    return asyncio.run(main())


@attrs.define
class BareServer:
    """A baseline server child process (``kind`` "thrift" or "tornado") on ``port``."""

    proc: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(cls, kind: str) -> BareServer:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "bench.bare", kind, str(port)],
                                cwd=REPO, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not reachable("127.0.0.1", port, 0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the bare {kind} server did not listen")
            time.sleep(0.05)
        return cls(proc, port)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


if __name__ == "__main__":
    {"thrift": serve_thrift, "tornado": serve_tornado}[sys.argv[1]](int(sys.argv[2]))
