"""What the original forsun's ``forsun`` command printed, which scripts parse: the default
output of :mod:`forsun.commands.forsun`.

- A plan is one line: its next due time in this machine's time zone, its key, its six
  schedule words, its action and its params in double quotes
  (``2024-05-01 10:30:00+00:00 job1 */5/1 * * * * * shell "cmd='ls'"``). A delay plan
  writes ``*`` for a zero field (``week``: for -1) and ``*/N/COUNT`` otherwise; a fixed
  plan writes ``*`` for -1.
- ``info`` is ``key:<TAB>value`` lines in the original's order and groups, memory in
  B/K/M/G, ``current_time`` as a local time.
- A refusal is ``cmd ForsunPlanError:  CODE MESSAGE``.

The original computed its times from ``time.mktime(time.gmtime())``, so on a machine whose
zone is not UTC it shifted them twice; times here are right in every zone, and the same as
the original's in UTC.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from ..plan import SCHEDULE_FIELDS, Plan

#: The prompt and its welcome banner (printed, then a blank line).
PROMPT = "forsun> "
BANNER = "Welcome to the Forsun {version}\nType 'help' for help\n"

HELP = """\
help - show help doc
exit - exit the cmd
ls - show prfix key plans (ls [prefix or *])
current - show current time plans (current)
time - show time plans (time [timestamp or datetime])
get - show plan info (get [key])
rm - remove plan (rm [key])
set - add crontab plan (set [key] [seconds] [minutes] [hours] [days] [months] [weeks] [cmd] \
[args])"""

#: ``info`` keys in the original's order; "" is a blank line between groups.
INFO_KEYS = (
    "python_version", "forsun_version", "start_time", "cpu_user", "cpu_system", "mem_rss",
    "mem_vms", "current_time", "",
    "stores", "current_store", "actions", "bind_port", "http_bind_port", "extensions", "",
    "connecting_count", "connected_count", "requesting_count", "requested_count",
    "requested_error_count", "",
    "http_connecting_count", "http_connected_count", "http_requesting_count",
    "http_requested_count", "http_requested_error_count", "",
    "created_count", "create_timeouted_count", "removed_count", "plan_count",
    "timeout_handling_count", "timeout_handled_count", "",
    "action_executing_count", "action_executed_count", "action_executed_error_count",
    "action_retried_count", "",
    "timer_loop_count", "timer_loop_ready_error_count", "",
)


def local_time(seconds: int) -> str:
    """Unix ``seconds`` in this machine's time zone (``2024-05-01 10:30:00+00:00``)."""
    return str(datetime.datetime.fromtimestamp(seconds, datetime.UTC).astimezone())


def schedule_words(plan: Plan) -> list[str]:
    """The six schedule words of a plan line."""
    values = [getattr(plan, name) for name in SCHEDULE_FIELDS]
    if not plan.is_time_out:
        return ["*" if value == -1 else str(value) for value in values]
    unset = [0] * 5 + [-1]  # the week field counted -1 as unset, the others 0
    return ["*" if value == none else f"*/{value}/{plan.count}"
            for value, none in zip(values, unset, strict=True)]


def plan_line(plan: Plan) -> str:
    """A plan as the original printed it (see the module docstring)."""
    params = ";".join(f"{name}='{value}'" for name, value in plan.params.items())
    return " ".join([local_time(plan.next_time), plan.key, *schedule_words(plan), plan.action,
                     f'"{params}"'])


def info_lines(info: Mapping[str, str]) -> list[str]:
    """``info`` as the original's ``forsun info`` printed it."""
    lines = []
    for key in INFO_KEYS:
        value = info.get(key, "") if key else ""
        if key in ("mem_rss", "mem_vms"):
            value = _size(int(value or 0))
        elif key == "current_time" and value.isdigit():
            value = local_time(int(value))
        lines.append(f"{key}:\t{value}" if key else "")
    return lines


def _size(count: float) -> str:
    """Bytes as the original wrote them (beyond 1024 G still in G, divided once more)."""
    for unit in ("B", "K", "M"):
        if count < 1024:
            return f"{count:.2f}{unit}"
        count /= 1024.0
    return f"{count / 1024.0 if count >= 1024 else count:.2f}G"


def error_line(code: int, message: str) -> str:
    """A refusal as the original printed it."""
    return f"cmd ForsunPlanError:  {code} {message}"
