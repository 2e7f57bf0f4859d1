"""The original forsun's ``forsun.status``: :data:`forsun_status`, the counters that ``info``
reports, as attributes.

``forsun_status.created_count`` reads the running service's counter of that name and
``forsun_status.action_retried_count += 1`` changes it; ``inc(name, value)`` adds to any
counter, a new name included, and so does setting an attribute of a new name; every
counter shows in ``info``. Without a running
service the counters live in this object alone (as in the original before its server
started).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from .. import __version__
from ..stats import COUNTERS, Stats
from . import running, timer

#: Counters of the original's status object that :mod:`forsun.stats` does not keep
#: (forsund counts its plans in the store; ``info`` reports that figure).
_ORIGINAL_ONLY = ("plan_count",)


class ForsunStatus:
    """Counters by attribute (see the module docstring); ``start_time`` and ``customs``
    as in the original."""

    def __init__(self) -> None:
        object.__setattr__(self, "_own", Stats())
        object.__setattr__(self, "_start_time", datetime.now().astimezone())

    @property
    def stats(self) -> Stats:
        """The running service's counters, or this object's own."""
        service = running.service()
        return service.stats if service is not None else self._own

    @property
    def start_time(self) -> datetime:
        service = running.service()
        return service.start_time if service is not None else self._start_time

    @property
    def customs(self) -> dict[str, int]:
        """Counters added with :meth:`inc` under names of their own."""
        known = {*COUNTERS, *_ORIGINAL_ONLY}
        return {name: value for name, value in self.stats.counters.items()
                if name not in known}

    def __getattr__(self, name: str) -> Any:
        counters = self.stats.counters
        if name in COUNTERS or name in _ORIGINAL_ONLY or name in counters:
            return counters[name]
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            raise AttributeError(f"forsun_status has no attribute {name!r} to set")
        self.stats.counters[name] = value

    def inc(self, key: str, value: int = 1) -> None:
        self.stats.inc(key, value)

    def get_info(self) -> dict[str, str]:
        """Every counter as ``info`` reports it, with the versions, the start time and the
        current second (the other figures of ``info`` are the service's: ``await
        service.info()``)."""
        info = self.stats.as_info()
        info.update(python_version=sys.version.split()[0], forsun_version=__version__,
                    start_time=self.start_time.isoformat(timespec="seconds"),
                    current_time=str(timer.current()))
        return info


#: The original's status object.
forsun_status = ForsunStatus()
