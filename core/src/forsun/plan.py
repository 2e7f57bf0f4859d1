"""The plan: one timer, its schedule fields, its action and its progress.

Field meanings and defaults follow the original forsun (DESIGN 3.1). ``status`` is
:data:`STATUS_WAITING` or :data:`STATUS_EXECUTING` for a plan that fires again; a finished
plan kept for ``status_expried`` is :data:`STATUS_FINISHED` until its last action has
finished, then :data:`STATUS_SUCCEEDED` or :data:`STATUS_FAILED`, the original's values.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .errors import ForsunPlanError

#: waiting for ``next_time``
STATUS_WAITING = 0
#: an occurrence is being executed (a store may mark a claimed plan so when it is read)
STATUS_EXECUTING = 1
#: fired its last time; kept only while ``status_expried`` lets its last state be read,
#: and this until its last action has finished
STATUS_FINISHED = 2
#: a finished plan (kept for ``status_expried``) whose last action succeeded: the original's
#: 1, the same value as :data:`STATUS_EXECUTING` (only a finished plan is stored so)
STATUS_SUCCEEDED = 1
#: a finished plan (kept for ``status_expried``) whose last action failed: the original's -1
STATUS_FAILED = -1
#: The statuses of a finished plan kept for ``status_expried``: at its ``next_time`` it is
#: removed, nothing fires.
FINISHED_STATUSES = frozenset({STATUS_FINISHED, STATUS_SUCCEEDED, STATUS_FAILED})

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
        """Every field by its protocol name (the HTTP ``data`` of a plan); params copied."""
        # A dict display, not built from PLAN_FIELDS: that takes twice as long, and the
        # reply to a bulk creation calls this per plan (bench create, JSON arrays
        # answering every plan: 57,000 instead of 64,000 plans/s).
        return {"key": self.key, "second": self.second, "minute": self.minute,
                "hour": self.hour, "day": self.day, "month": self.month, "week": self.week,
                "is_time_out": self.is_time_out, "count": self.count,
                "current_count": self.current_count, "status": self.status,
                "next_time": self.next_time, "last_timeout": self.last_timeout,
                "created_time": self.created_time, "action": self.action,
                "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Build from protocol field names; unknown names are ignored."""
        names = attrs.fields_dict(cls)
        return cls(**{k: v for k, v in data.items() if k in names})

    def occurrence(self) -> tuple[str, int]:
        """Identity of the occurrence this plan is due for: ``(key, next_time)``."""
        return (self.key, self.next_time)

    def dumps(self) -> bytes:
        """This plan in the original forsun's msgpack encoding (:mod:`forsun.legacy.plan`)."""
        from .legacy.plan import encode

        return encode(self)

    @classmethod
    def loads(cls, data: bytes) -> Plan:
        """A plan from the original forsun's encoding (unknown fields are ignored)."""
        from .legacy.plan import decode

        return cls.from_dict(decode(data))


#: The names of a plan's fields, in order (the protocol names: DESIGN 3.1).
PLAN_FIELDS: tuple[str, ...] = tuple(field.name for field in attrs.fields(Plan))
_field_values = operator.attrgetter(*PLAN_FIELDS)


def evolved(plan: Plan, **changes: Any) -> Plan:
    """A copy of ``plan`` with the fields ``changes`` names set to its values, as
    :func:`attrs.evolve` does in more than twice the time (the engine makes one per
    firing). The params map is shared, not copied."""
    copy = Plan(*_field_values(plan))
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


#: The fields validate_plan checks are INT16 integers, and getters of their values.
_INT_FIELDS = (*SCHEDULE_FIELDS, "count", "current_count", "status")
_int_values = operator.attrgetter(*_INT_FIELDS)
_schedule_values = operator.attrgetter(*SCHEDULE_FIELDS)
_FIXED_RANGES = tuple(FIXED_RANGES.items())


def validate_plan(plan: Plan) -> None:
    """Raise :class:`ForsunPlanError` (1004, naming the field) unless ``plan`` can be stored.

    The service calls this for every plan it creates and stores before writing anything
    (see :func:`validated_list`), so bad input never reaches their data.
    """
    if not _accepted_by_fast_path(plan):
        _check_fields(plan)


class ValidatedPlans(list[Plan]):
    """Plans that passed :func:`validate_plan` just before this list was handed to a store
    (the service validates what it creates, so a store need not check them twice)."""


def validated_list(plans: Iterable[Plan]) -> list[Plan]:
    """``plans`` as a list, each checked with :func:`validate_plan` unless ``plans`` is a
    :class:`ValidatedPlans`. Stores call this at the top of ``put_many``."""
    if isinstance(plans, ValidatedPlans):
        return plans
    plans = list(plans)
    for plan in plans:
        validate_plan(plan)
    return plans


#: Packs (so range-checks) the nine INT16 fields at once.
_INT16S = struct.Struct("9h")


def _accepted_by_fast_path(plan: Plan) -> bool:
    """The fast path of :func:`validate_plan`: True only for a valid plan whose key and
    params are ASCII (False says nothing either way), by one chain of comparisons. Without
    it bulk creation over HTTP is 15 % slower (bench create, JSON ``?reply=keys``: 74,000
    instead of 87,000 plans/s on the same machine)."""
    key, action, params = plan.key, plan.action, plan.params
    second, minute, hour, day, month, week = (plan.second, plan.minute, plan.hour, plan.day,
                                              plan.month, plan.week)
    count, current_count, status = plan.count, plan.current_count, plan.status
    if not (type(key) is str and type(action) is str and type(params) is dict
            and type(second) is type(minute) is type(hour) is type(day) is type(month)
            is type(week) is type(count) is type(current_count) is type(status)
            is type(plan.next_time) is type(plan.last_timeout) is int
            and 0 < len(key) <= MAX_KEY_BYTES and key.isascii() and action
            and "\x00" not in key and "\r" not in key and "\n" not in key and count >= 0):
        return False
    try:
        _INT16S.pack(second, minute, hour, day, month, week, count, current_count, status)
    except struct.error:  # one is outside INT16
        return False
    if not plan.is_time_out and not (
            (second == -1 or 0 <= second <= 59) and (minute == -1 or 0 <= minute <= 59)
            and (hour == -1 or 0 <= hour <= 23) and (day == -1 or 1 <= day <= 31)
            and (month == -1 or 1 <= month <= 12) and (week == -1 or 0 <= week <= 7)):
        return False
    try:
        text = "".join([*params, *params.values()])
    except TypeError:  # a name or value that is not a string
        return False
    return text.isascii() and len(text) <= MAX_PARAMS_BYTES


def _check_fields(plan: Plan) -> None:
    """:func:`validate_plan`, one field at a time."""
    _check_key(plan.key)
    low, high = INT16
    for name, value in zip(_INT_FIELDS, _int_values(plan), strict=True):
        if type(value) is not int:
            raise ForsunPlanError.invalid(name, f"must be an integer, not {type(value).__name__}")
        if not low <= value <= high:
            raise ForsunPlanError.invalid(name, f"{value} is outside [{low}, {high}]")
    if not plan.is_time_out:
        for (name, (first, last)), value in zip(_FIXED_RANGES, _schedule_values(plan),
                                                strict=True):
            if value != -1 and not first <= value <= last:
                raise ForsunPlanError.invalid(name, f"{value} is outside -1 or [{first}, {last}]")
    if plan.count < 0:
        raise ForsunPlanError.invalid("count", "must not be negative")
    if type(plan.next_time) is not int:
        raise ForsunPlanError.invalid("next_time", "must be an integer number of seconds")
    if type(plan.last_timeout) is not int:
        raise ForsunPlanError.invalid("last_timeout", "must be an integer number of seconds")
    if type(plan.action) is not str or not plan.action:
        raise ForsunPlanError.invalid("action", "must be a non-empty string")
    _check_params(plan.params)


def _check_key(key: object) -> None:
    if type(key) is not str or not key:
        raise ForsunPlanError.invalid("key", "must be a non-empty string")
    if "\x00" in key or "\r" in key or "\n" in key:
        raise ForsunPlanError.invalid("key", "must not contain NUL, CR or LF")
    if len(key if key.isascii() else _utf8("key", key)) > MAX_KEY_BYTES:
        raise ForsunPlanError.invalid("key", f"longer than {MAX_KEY_BYTES} bytes")


def _check_params(params: object) -> None:
    if type(params) is not dict:
        raise ForsunPlanError.invalid("params", "must be a map of strings")
    for name, value in params.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ForsunPlanError.invalid(f"params[{name!r}]", "keys and values must be strings")
    text: str | bytes = "".join([*params, *params.values()])
    if not text.isascii():
        text = b"".join([_utf8(f"params[{name!r}]", name + value)
                         for name, value in params.items()])
    if len(text) > MAX_PARAMS_BYTES:
        raise ForsunPlanError.invalid("params", f"larger than {MAX_PARAMS_BYTES} bytes")


def _utf8(field: str, text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ForsunPlanError.invalid(field, "is not valid unicode (lone surrogate)") from exc
