"""The plan: one timer, its schedule fields, its action and its progress.

Field meanings and defaults follow the original forsun (DESIGN 3.1). ``status`` is one of
:data:`STATUS_WAITING`, :data:`STATUS_EXECUTING` or :data:`STATUS_FINISHED`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .errors import ForsunPlanError

#: waiting for ``next_time``
STATUS_WAITING = 0
#: an occurrence is being executed (its action has not finished yet)
STATUS_EXECUTING = 1
#: fired its last time; kept only while ``status_expried`` lets its last state be read
STATUS_FINISHED = 2

SCHEDULE_FIELDS = ("second", "minute", "hour", "day", "month", "week")

#: Longest key accepted, in UTF-8 bytes.
MAX_KEY_BYTES = 1024
#: Largest params map accepted (all keys and values, UTF-8 bytes).
MAX_PARAMS_BYTES = 1 << 20
INT16 = (-(1 << 15), (1 << 15) - 1)
#: Valid values of each fixed-time field (-1 means "any").
FIXED_RANGES = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day": (1, 31),
    "month": (1, 12),
    "week": (0, 7),
}


@attrs.define(slots=True)
class Plan:
    """A timer. ``is_time_out`` selects delay mode (fields are an interval) or fixed-time
    mode (fields are a cron-like match, -1 = any). ``next_time`` is the next due second
    (unix seconds); ``count`` 0 means forever."""

    key: str = ""
    second: int = 0
    minute: int = -1
    hour: int = -1
    day: int = -1
    month: int = -1
    week: int = -1
    is_time_out: bool = False
    count: int = 0
    current_count: int = 0
    status: int = STATUS_WAITING
    next_time: int = 0
    last_timeout: int = 0
    created_time: float = 0.0
    action: str = "shell"
    params: dict[str, str] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Every field by its protocol name (the HTTP ``data`` of a plan)."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Build from protocol field names; unknown names are ignored."""
        names = attrs.fields_dict(cls)
        return cls(**{k: v for k, v in data.items() if k in names})

    def occurrence(self) -> tuple[str, int]:
        """Identity of the occurrence this plan is due for: ``(key, next_time)``."""
        return (self.key, self.next_time)


def validate_plan(plan: Plan) -> None:
    """Raise :class:`ForsunPlanError` (1004, naming the field) unless ``plan`` can be stored.

    Stores call this before writing anything, so bad input never reaches their data.
    """
    if not isinstance(plan.key, str) or not plan.key:
        raise ForsunPlanError.invalid("key", "must be a non-empty string")
    if len(plan.key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise ForsunPlanError.invalid("key", f"longer than {MAX_KEY_BYTES} bytes")
    if any(c in plan.key for c in "\x00\r\n"):
        raise ForsunPlanError.invalid("key", "must not contain NUL, CR or LF")
    _check_encodable("key", plan.key)
    for name in (*SCHEDULE_FIELDS, "count", "current_count", "status"):
        value = getattr(plan, name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ForsunPlanError.invalid(name, f"must be an integer, not {type(value).__name__}")
        low, high = INT16
        if not low <= value <= high:
            raise ForsunPlanError.invalid(name, f"{value} is outside [{low}, {high}]")
    if not plan.is_time_out:
        for name, (low, high) in FIXED_RANGES.items():
            value = getattr(plan, name)
            if value != -1 and not low <= value <= high:
                raise ForsunPlanError.invalid(name, f"{value} is outside -1 or [{low}, {high}]")
    if plan.count < 0:
        raise ForsunPlanError.invalid("count", "must not be negative")
    for name in ("next_time", "last_timeout"):
        if not isinstance(getattr(plan, name), int):
            raise ForsunPlanError.invalid(name, "must be an integer number of seconds")
    if not isinstance(plan.action, str) or not plan.action:
        raise ForsunPlanError.invalid("action", "must be a non-empty string")
    if not isinstance(plan.params, dict):
        raise ForsunPlanError.invalid("params", "must be a map of strings")
    size = 0
    for k, v in plan.params.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ForsunPlanError.invalid(f"params[{k!r}]", "keys and values must be strings")
        _check_encodable(f"params[{k!r}]", k + v)
        size += len(k) + len(v)
    if size > MAX_PARAMS_BYTES:
        raise ForsunPlanError.invalid("params", f"larger than {MAX_PARAMS_BYTES} bytes")


def _check_encodable(field: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ForsunPlanError.invalid(field, "is not valid unicode (lone surrogate)") from exc
