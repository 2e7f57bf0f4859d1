"""The differences from the original forsun 0.1.4 that are kept on purpose, each with its
reason, and the normalisers that let the scenarios compare everything else.

Every entry is also a section of docs/migrating.md (``compat_docs.py`` checks it), and every
normaliser names the entry it absorbs. Anything a normaliser does not absorb must be the
same in the original and in forsun, or a scenario fails.
"""

from __future__ import annotations

import re

KEPT_DIFFERENCES: dict[str, str] = {
    "error-messages": (
        "Error messages are English and name the field, key or target at fault "
        "(\"plan 'order:42' not found\"); the original's were fixed Chinese strings "
        "(\"计划未找到\"). Error codes are the same."),
    "version": (
        "forsun 1.0 and later are this project: `forsun version`, `forsun.version` and the "
        "welcome banner say 1.x, not 0.1.4."),
    "exit-status": (
        "A command line that cannot be run (an unknown command, a missing argument) exits "
        "with 2 and an unreachable server with 3, so scripts can tell them from a refused "
        "plan (1); the original exited with 1 for all three. The lines printed are the "
        "original's."),
    "cli-argument-errors": (
        "A command given too few or too many words prints `cmd error:  usage: ...`, and a "
        "`set` line with a malformed or missing field is refused with the code the server "
        "gives (1004 naming the field, 1007 naming the missing part); the original printed "
        "Python's TypeError or ValueError text."),
    "key-order": (
        "Keys (`ls`, `getKeys`, `/v1/keys`) come sorted; the original listed them in the "
        "order its mem store happened to hold them (Redis's order with the redis store)."),
    "end-of-input": (
        "At the end of input piped into the prompt, forsun exits with the status of the last "
        "command that failed (0 if none did); the original crashed with an EOFError traceback "
        "and status 1."),
    "foreground": (
        "forsund runs in the foreground unless given --demon (or --demon VALUE): systemd, "
        "containers and this project's documentation expect it. The original detached unless "
        "given --nodemon. forsund says at start-up how to detach."),
    "log-file": (
        "In the foreground, with no --log (nor log_file, nor LOG_FILE), forsund logs to "
        "stderr; the original always wrote /var/log/forsun.log. With --demon the original's "
        "default is kept. Log lines also name the logger (%(name)s)."),
    "info-values": (
        "`info` has more keys, python_version is the version number alone, start_time is "
        "ISO 8601, cpu times have three decimals, and stores/actions list every installed "
        "plugin (the original listed its own, and dropped actions whose client library was "
        "missing)."),
    "shell-environment": (
        "A shell command inherits forsund's environment plus `env`, FORSUN_KEY and "
        "FORSUN_TIMESTAMP; the original gave it FORSUN_TIMESTAMP alone (no PATH), and its "
        "`env` parser set one-letter variables (`a=1` set `a` to `=`)."),
    "http-headers": (
        "The http action's requests also carry X-FORSUN-KEY (the plan's key, so a target can "
        "tell occurrences apart) and the User-Agent forsun/VERSION (the original meant to "
        "send it, but configured its client after making it, so sent none); they do not "
        "offer gzip (Accept-Encoding), as the original's did."),
    "required-params": (
        "A plan whose action lacks a required param (`cmd` of shell, `url` of http, ...) is "
        "refused when it is created (1007 naming it); the original stored it and failed at "
        "every firing."),
    "http-malformed-bodies": (
        "A malformed HTTP request body, params that are not an object, or an array item "
        "whose \"method\" is neither create nor createTimeout, gets the JSON envelope with "
        "the code of the fault (1004, 1007); the original answered an HTML 400 page, or "
        "1001, skipped the item, or made it a fixed-time plan."),
    "http-all-or-none": (
        "A JSON array (or crontab body) of plans is created all or none: an item that is "
        "refused stores none of them, and the error names it; the original stored the items "
        "before it."),
    "http-second": (
        "HTTP plan bodies accept `second` as well as `seconds`; the original ignored "
        "`second` and fired the plan at once."),
    "http-missing-key": (
        "GET or DELETE /v1/plan without `key` is 1007 (a required argument is missing); the "
        "original answered 1001 because its handler failed before its own check."),
    "invalid-environment": (
        "An environment variable of the original (PORT, STORE_DRIVER, ...) whose value does "
        "not fit its setting stops forsund with a one-line message naming it; the original "
        "ignored it silently."),
    "config-writes": (
        "`forsun.config.set` and `update` change what `forsun.config.get` answers, not "
        "forsund's running settings, which are fixed at start-up; in the original some "
        "settings were read again at every use."),
    "status-get-info": (
        "`forsun.status.forsun_status.get_info()` answers the counters, the versions, "
        "start_time and current_time; the other figures of `info` (cpu, memory, plan_count, "
        "the plugins) come from the running service (`forsun info`)."),
    "client-connection-errors": (
        "The Python clients raise ConnectionError when forsund cannot be reached; the "
        "original's raised thrift's TTransportException."),
    "contract-base-classes": (
        "`from forsun.action import Action` and `from forsun.store import Store` are the "
        "base classes of forsun's plugin contracts. Code written for the original imports "
        "them from `forsun`, `forsun.action.action` and `forsun.store.store`, which are the "
        "original's classes."),
    "plan-class": (
        "`forsun.Plan(...)` and `forsun.plan.Plan(...)` take the fields after `week` in "
        "their own order (pass them by name), and `Plan.loads` keeps the stored next_time "
        "(the original recomputed a past one from the clock). A legacy action's `self.plan` "
        "is the plan after its occurrence, as in the original, with `next_time` 0 where the "
        "original said None."),
    "late-registration": (
        "Actions and stores are registered before forsund starts its service (at import, "
        "in an extension's register()); the original looked them up at every firing, so a "
        "registration from init() or later took effect."),
    "pool-sizes": (
        "Connection pool defaults differ where this project measured better ones: "
        "--action-thrift-max-connections 8 per target (the original: 64), "
        "--driver-redis-max-connections 32 (8)."),
    "weekday": (
        "`week` of a fixed-time plan is the day of the week (0 or 7 Sunday); the original "
        "ignored it."),
    "timezone": (
        "Fixed-time plans match in --timezone (default UTC, as the original, which matched "
        "in UTC only)."),
    "plan-status": (
        "With status_expried, only a plan's last occurrence records its outcome (1 "
        "succeeded, -1 failed, and 2 until its first attempt has finished); a plan that "
        "fires again reads 0 (waiting), or 1 with the redis store while an occurrence runs. "
        "The original recorded the outcome of every firing for status_expried seconds: a "
        "store write per firing, which forsund saves."),
    "timing": (
        "Plans fire at the start of their second and never before it; the original fired "
        "up to a second late, and sometimes some 30 ms early."),
    "delivery": (
        "An occurrence counts as done when its action has finished (with the shell action: "
        "started) or given up its retries; after a crash, unfinished ones fire again, and "
        "every plan acknowledged survives (the original saved its mem store on a clean exit "
        "only)."),
    "connection-limits": (
        "Each front end keeps at most --max-connections open and closes one idle for "
        "--idle-timeout (10 minutes); the original kept every connection until its client "
        "closed it."),
    "action-connection-state": (
        "The redis and mysql actions start every firing on a connection in the state of a "
        "new one, a redis transaction that did not run fails the firing, and redis commands "
        "that never worked in a firing (SUBSCRIBE, MONITOR, ...) are refused (1004)."),
    "data-files": (
        "The stores' data formats are new: plans are not carried over automatically; "
        "forsund migrate moves them from the original's dump file or Redis keys, state "
        "included, and forsund refuses to start on the original's dump file."),
}

def kept(name: str) -> str:
    """``name`` after checking it is a kept difference (normalisers cite them this way)."""
    assert name in KEPT_DIFFERENCES, name
    return name


# -- normalisers ---------------------------------------------------------------------------------

_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d")
_ERROR = re.compile(r"(cmd ForsunPlanError:  \d+) [^\n]*")
_CMD_ERROR = re.compile(r"cmd error:  [^\n]*")
_VERSION = re.compile(r"^(forsun> )?\d+\.\d+\.\d+$", re.M)
_BANNER = re.compile(r"^Welcome to the Forsun \S+$", re.M)
_INFO_VALUE = re.compile(r"^(\w+):\t.*$", re.M)


def cli_text(text: str) -> str:
    """The output of the ``forsun`` command with what must differ replaced: times (the
    seconds the two servers created a plan at may differ), error messages
    (:func:`kept` ``error-messages``, ``cli-argument-errors``), versions (``version``)."""
    kept("error-messages"), kept("cli-argument-errors"), kept("version")
    text = _TIME.sub("<TIME>", text)
    text = _ERROR.sub(r"\1 <MESSAGE>", text)
    text = _CMD_ERROR.sub("cmd error:  <MESSAGE>", text)
    text = _BANNER.sub("Welcome to the Forsun <VERSION>", text)
    return _VERSION.sub(r"\1<VERSION>", text)


def info_text(text: str) -> str:
    """``forsun info``'s lines with their values replaced (``info-values``): what a script
    relies on is the keys, their order and the blank lines between groups."""
    kept("info-values")
    return _INFO_VALUE.sub(r"\1:\t<VALUE>", text)


def sorted_lines(text: str) -> list[str]:
    """The lines of a listing, sorted (``key-order``)."""
    kept("key-order")
    return sorted(text.splitlines())


def exit_status(original: int, kind: str) -> int:
    """The exit status forsun gives where the original gave ``original``, for a failure
    of ``kind`` ("usage", "unreachable"; ``exit-status``)."""
    kept("exit-status")
    return {"usage": 2, "unreachable": 3}.get(kind, original) if original else original
