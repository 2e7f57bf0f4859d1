"""An extension written for the original forsun, using every API an extension reaches. The
same file runs in the original forsund and in ours (``--extension-path`` this folder,
``--extension compat_extension.CompatExtension``).

Its ``report`` action writes what it saw, as JSON, to the file named by its ``path`` param;
the ``shell`` action it registers replaces the built-in one (the original let a later
registration win) and writes ``replaced`` to its ``cmd``; ``init()`` writes ``init`` to
the file ``init-marker`` in forsund's working directory.
"""

import json

from tornado import gen

import forsun.action
import forsun.status
import forsun.store
import forsun.timer
import forsun.utils
from forsun import Action, Extension, Plan, Store, config, version, version_info


def write(path, text):
    with open(path, "w") as fp:
        fp.write(text)


class ReportAction(Action):
    @gen.coroutine
    def execute(self, *args, **kwargs):
        status = forsun.status.forsun_status
        status.inc("compat_custom", 2)
        status.action_retried_count += 0  # incrementable, as the original's attributes
        old_agent = config.set("ACTION_HTTP_USER_AGENT", "compat/1")
        updated = config.update({"COMPAT_KEY": 7})
        plan = Plan.loads(self.plan.dumps())
        made = Plan(self.plan.key + ":made", 5, is_time_out=True, count=1, action="shell",
                    params={"cmd": "true"})
        report = {
            "version": [type(version).__name__, type(version_info).__name__,
                        [type(part).__name__ for part in version_info]],
            "config": {
                "ACTION_HTTP_MAX_CLIENTS": config.get("ACTION_HTTP_MAX_CLIENTS"),
                "ACTION_HTTP_REQUEST_TIMEOUT": config.get("ACTION_HTTP_REQUEST_TIMEOUT"),
                "ACTION_RETRY_MAX_COUNT": config.get("ACTION_RETRY_MAX_COUNT"),
                "STORE_DRIVER": config.get("STORE_DRIVER"),
                "BIND_ADDRESS": config.get("BIND_ADDRESS"),
                "PORT is the server's": config.get("PORT") == int(self.params["port"]),
                "EXTENSIONS": config.get("EXTENSIONS"),
                "missing with default": config.get("COMPAT_MISSING", "default"),
                "set returned": old_agent,
                "set then get": config.get("ACTION_HTTP_USER_AGENT"),
                "update then get": config.get("COMPAT_KEY"),
                "update returned a dict": isinstance(updated, dict),
            },
            "status": {
                "created_count": status.created_count >= 1,
                "action_executing_count": status.action_executing_count >= 1,
                "custom in info": status.get_info().get("compat_custom"),
                "info keys": sorted(key for key in status.get_info() if key.endswith("_count")
                                    and key in ORIGINAL_COUNTERS),
            },
            "timer": abs(forsun.timer.current() - self.ts) <= 2,
            "utils": [forsun.utils.parse_cmd("set a 'b c'; get x=1"),
                      forsun.utils.parse_cmd("k='v 2';e", True, False),
                      forsun.utils.ensure_bytes("é").hex(),
                      forsun.utils.ensure_unicode(b"\xc3\xa9")],
            "drivers": sorted(set(forsun.action.get_driver_names())
                              & {"report", "module_report", "shell", "http"}),
            "stores": sorted(set(forsun.store.get_store_names()) & {"mem", "compat_store"}),
            "plan": {
                "attributes": [self.plan.key, self.plan.action,
                               self.plan.params.get("path") is not None, self.action,
                               sorted(self.params), self.plan.is_time_out, self.plan.count],
                "progress": [self.plan.next_time == self.ts, self.plan.last_timeout == self.ts,
                             self.plan.current_count],
                "loads(dumps())": [plan.key, plan.second, plan.is_time_out, sorted(plan.params)],
                "encoded fields": sorted(_encoded(self.plan.dumps())),
                "made": [made.key, made.second, made.is_time_out, made.count, made.params],
            },
        }
        write(self.params["path"], json.dumps(report, sort_keys=True))


class ReplacingShell(Action):
    @gen.coroutine
    def execute(self, *args, **kwargs):
        write(self.params["cmd"], "replaced")


class CompatStore(Store):
    """Registered only: a store an extension brings (not the one in use)."""


#: Counters of the original's info.
ORIGINAL_COUNTERS = (
    "connecting_count", "connected_count", "requesting_count", "requested_count",
    "requested_error_count", "http_connecting_count", "http_connected_count",
    "http_requesting_count", "http_requested_count", "http_requested_error_count",
    "created_count", "create_timeouted_count", "removed_count", "timeout_handling_count",
    "timeout_handled_count", "action_executing_count", "action_executed_count",
    "action_executed_error_count", "action_retried_count", "timer_loop_count",
    "timer_loop_ready_error_count",
)


def _encoded(data):
    """The field names of a plan the original's way encoded (msgpack map of raw strings)."""
    import msgpack

    return [key.decode() if isinstance(key, bytes) else key
            for key in msgpack.unpackb(data, raw=True)]


class CompatExtension(Extension):
    name = "compat"

    def register(self):
        self.register_action("report", ReportAction)
        self.register_action("shell", ReplacingShell)
        self.register_store("compat_store", CompatStore)
        forsun.action.register_action("module_report", ReportAction)

    def init(self):
        write("init-marker", "init")
