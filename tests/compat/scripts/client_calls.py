"""Every method of the original's Python clients, as its users call them, against the
forsund at 127.0.0.1:PORT; prints the results as JSON.

Run by the original's environment (its own ``forsun`` package) and by ours (the legacy
layer), unchanged: ``python client_calls.py PORT KEY_PREFIX``.
"""

import asyncio
import json
import sys

from tornado import gen
from tornado.ioloop import IOLoop

from forsun import ThriftClient, TorThriftClient
from forsun.clients import ForsunPlanError

#: The attributes of the original's ForsunPlan.
FIELDS = ("is_time_out", "key", "second", "minute", "hour", "day", "month", "week",
          "next_time", "status", "count", "current_count", "last_timeout", "action", "params")

port, prefix = int(sys.argv[1]), sys.argv[2]
results = {}


def shown(value):
    if hasattr(value, "next_time"):
        return {name: getattr(value, name) for name in FIELDS}
    if isinstance(value, list):
        return [shown(item) for item in value]
    if isinstance(value, dict):
        return {key: str(item) for key, item in value.items()}
    return value


def record(name, call):
    try:
        results[name] = {"ok": shown(call())}
    except ForsunPlanError as exc:
        results[name] = {"error": exc.code, "message": isinstance(exc.message, str)}


client = ThriftClient(port, "127.0.0.1")
client.connect()
record("create", lambda: client.create(prefix + "fixed", 0, 30, 10, action="shell",
                                       params={"cmd": "ls"}))
record("create_positional", lambda: client.create(prefix + "positional", 5, 4, 3, -1, -1, -1,
                                                  "http", {"url": "http://127.0.0.1:9/"}))
record("create_timeout", lambda: client.create_timeout(prefix + "delay", 3600,
                                                       params={"cmd": "true"}))
record("create_timeout_count", lambda: client.create_timeout(
    prefix + "count", 5, 20, count=3, action="http", params={"url": "http://127.0.0.1:9/"}))
record("create_timeout_positional", lambda: client.create_timeout(
    prefix + "positional2", 30, 60, -1, -1, -1, -1, 2, "shell", {"cmd": "true"}))
record("create_unknown_action", lambda: client.create(prefix + "bad", 0, action="nosuch"))
record("get", lambda: client.get(prefix + "fixed"))
record("get_missing", lambda: client.get(prefix + "missing"))
record("get_keys", lambda: sorted(client.get_keys(prefix)))
record("get_keys_star", lambda: sorted(client.get_keys(prefix + "*")))
record("get_time", lambda: [plan.key for plan in
                            client.get_time(client.get(prefix + "fixed").next_time)
                            if plan.key.startswith(prefix)])
record("get_current", lambda: [plan.key for plan in client.get_current()
                               if plan.key.startswith(prefix)])
record("info", lambda: sorted(client.info()))
record("remove", lambda: client.remove(prefix + "delay"))
record("remove_missing", lambda: client.remove(prefix + "delay"))
record("execute", lambda: sorted(client.execute("getKeys", prefix + "count")))


@gen.coroutine
def with_tornado():
    tor = TorThriftClient(port, "127.0.0.1", max_stream=2)
    created = yield tor.create_timeout(prefix + "tornado", 3600, params={"cmd": "true"})
    got = yield tor.get(prefix + "tornado")
    keys = yield tor.get_keys(prefix + "tor")
    try:
        yield tor.get(prefix + "missing")
        missing = None
    except ForsunPlanError as exc:
        missing = exc.code
    removed = yield tor.remove(prefix + "tornado")
    info = yield tor.info()
    current = yield tor.get_current()
    at = yield tor.get_time(created.next_time)
    fixed = yield tor.create(prefix + "tornado_fixed", 0, 0, 12, params={"cmd": "true"})
    return {"created": shown(created), "got": shown(got), "keys": keys, "missing": missing,
            "removed": shown(removed), "info": "forsun_version" in info,
            "current": isinstance(current, list), "at": prefix + "tornado" in
            [plan.key for plan in at], "fixed": shown(fixed)}


async def with_asyncio():
    tor = TorThriftClient(port, "127.0.0.1")
    created = await tor.create_timeout(prefix + "asyncio", 3600, params={"cmd": "true"})
    got = await tor.get(prefix + "asyncio")
    removed = await tor.remove(prefix + "asyncio")
    keys = await tor.get_keys(prefix + "asyncio")
    return {"created": shown(created), "got": shown(got), "removed": shown(removed),
            "keys": keys}


results["tornado"] = IOLoop.current().run_sync(with_tornado)
results["asyncio"] = asyncio.run(with_asyncio())
print(json.dumps(results))
