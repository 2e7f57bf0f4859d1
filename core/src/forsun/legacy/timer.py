"""The original forsun's ``forsun.timer``: :func:`current`, the second the timer is at."""

from __future__ import annotations

import math
import time

from . import running


def current() -> int:
    """The current second (unix seconds) by the running service's clock (this machine's
    clock when no service runs)."""
    service = running.service()
    return math.floor(service.clock() if service is not None else time.time())
