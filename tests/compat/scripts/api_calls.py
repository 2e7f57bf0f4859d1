"""The module-level API the original offered extensions, outside a running server; prints
the results as JSON. Run by the original's environment and by ours, unchanged:
``python api_calls.py``.
"""

import json
import sys

import forsun
import forsun.config
import forsun.plan
import forsun.status
import forsun.utils
from forsun import Plan

#: Command lines for parse_cmd: quotes, escapes, ';', '=', blanks, unterminated quotes.
LINES = [
    "", "get a", "  set  a */5 * * * * * shell 'cmd=ls'  ", "a;b c;;d", "x=1 y='2 3' z",
    "'a b' \"c d\" e", "k='it\\'s' m=\"say \\\"hi\\\"\"", "a='unterminated", "=x", "a= b",
    "set a 1 2 3 4 5 6 http 'url=http://h/?a=1;b=2'", "a\tb\nc\rd", "'' x \"\"", "a=;b",
    "x='1';y=2 ; z", "a'b'c", "\\' x", "q=\"a;b\";r",
]

results = {
    "parse_cmd": [forsun.utils.parse_cmd(line) for line in LINES],
    "parse_cmd_no_kwargs": [forsun.utils.parse_cmd(line, False) for line in LINES],
    "parse_cmd_unsplit": [forsun.utils.parse_cmd(line, True, False) for line in LINES],
    "ensure": [forsun.utils.ensure_bytes("é").hex(), forsun.utils.ensure_bytes(b"x").hex(),
               forsun.utils.ensure_unicode(b"\xc3\xa9"), forsun.utils.ensure_unicode(5)],
    "version": [type(forsun.version).__name__, len(forsun.version_info)],
    "config": {key: forsun.config.get(key) for key in sorted(forsun.config.DEFAULT_CONFIG)},
    "config_missing": forsun.config.get("NO_SUCH_KEY", "fallback"),
}

try:
    forsun.config.set("NO_SUCH_KEY", 1)
    results["config_set_unknown"] = "set"
except KeyError:
    results["config_set_unknown"] = "KeyError"
results["config_set"] = [forsun.config.set("PORT", 7000), forsun.config.get("PORT")]

status = forsun.status.forsun_status
status.created_count += 2
status.inc("custom_count", 3)
info = status.get_info()
results["status"] = [status.created_count, info["created_count"], info["custom_count"],
                     status.customs]

plan = Plan("k", 5, -1, -1, -1, -1, -1, is_time_out=True, count=2, next_time=2000000000,
            created_time=1700000000.5, action="http", params={"url": "http://h/"})
data = plan.dumps()
loaded = Plan.loads(data)
results["dumps"] = data.hex()
results["loads"] = [loaded.key, loaded.second, loaded.minute, loaded.is_time_out, loaded.count,
                    loaded.next_time, loaded.created_time, loaded.action, loaded.params]
# The original's import path of the class, built by name (its positional order differs).
plan = forsun.plan.Plan(key="m", second=7, is_time_out=True, count=1, next_time=2000000000,
                        created_time=1700000000.25, action="shell", params={"cmd": "true"})
data = plan.dumps()
loaded = forsun.plan.Plan.loads(data)
results["plan_module_dumps"] = data.hex()
results["plan_module_loads"] = [loaded.key, loaded.second, loaded.is_time_out, loaded.count,
                                loaded.next_time, loaded.params]
print(json.dumps(results, default=list))
sys.exit(0)
