"""Plans the scenarios create, as HTTP request objects (``POST /v1/plans`` items).

Keys are 20 characters (``run tag + scenario letter + counter``). Fixed-time plans pin
second, minute, hour, day and month of one UTC second (forsund's default time zone, and the
original forsun's only one), so their due second does not depend on when the request
arrives; they fire once (``count`` 1; a server that ignores count fires them a year later,
so compared servers get them removed afterwards).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

KEY_LENGTH = 20
#: Two params, as the memory goal prescribes; port 9 (discard) is never called because
#: these plans are due long after the bench ends.
IDLE_PARAMS = {"url": "http://127.0.0.1:9/never", "method": "post"}


def run_tag() -> str:
    """A 6-character tag that keeps this run's keys apart from any other's."""
    return uuid.uuid4().hex[:6]


def key(prefix: str, index: int) -> str:
    """A 20-character key: ``prefix`` then ``index`` zero-padded."""
    return f"{prefix}{index:0{KEY_LENGTH - len(prefix)}d}"


def fixed(key: str, due: int, action: str, params: dict[str, str]) -> dict[str, Any]:
    """A plan due exactly at unix second ``due`` (UTC), once."""
    tm = time.gmtime(due)
    return {"key": key, "is_time_out": False, "seconds": tm.tm_sec, "minute": tm.tm_min,
            "hour": tm.tm_hour, "day": tm.tm_mday, "month": tm.tm_mon, "week": -1,
            "count": 1, "action": action, "params": params}


def delay(key: str, seconds: int, params: dict[str, str] | None = None) -> dict[str, Any]:
    """A delay plan due ``seconds`` after its creation, once, with the http action (the
    interval written as hours, minutes and seconds: each field is a 16-bit integer)."""
    return {"key": key, "is_time_out": True, "hour": seconds // 3600,
            "minute": seconds % 3600 // 60, "seconds": seconds % 60, "count": 1,
            "action": "http", "params": dict(params or IDLE_PARAMS)}


def crontab_line(key: str, minutes: int) -> str:
    """A ``set`` line for a delay plan firing once ``minutes`` after creation."""
    return f"set {key} * */{minutes}/1 * * * * http 'url={IDLE_PARAMS['url']};method=post'"
