"""``forsun.Plan`` for code written for the original forsun: :class:`forsun.plan.Plan`,
whose ``dumps()`` / ``loads()`` are the original's msgpack encoding byte for byte
(:func:`encode`, :func:`decode`: a map of the sixteen fields in the original's order,
strings as msgpack raw, as msgpack < 1.0 wrote them), so a legacy store keeps reading what
the original wrote and the other way round.

Legacy stores and actions receive plans of this class (:mod:`forsun.legacy.store`,
:mod:`forsun.legacy.action`). It is a :class:`forsun.plan.Plan` everywhere else, and
compares equal to one with the same fields.

Two differences with the original's class, both about building one: positional arguments
follow :class:`forsun.plan.Plan` (after ``week``: ``is_time_out``, ``count``, ...; pass the
others by name), and ``loads`` keeps the stored ``next_time`` (the original recomputed a
past one from the clock, which the engine does itself).
"""

from __future__ import annotations

from typing import Any

import attrs

from .. import plan as plan_module

#: The fields the original encoded, in its order.
ENCODED_FIELDS = ("key", "second", "minute", "hour", "day", "month", "week", "status", "count",
                  "is_time_out", "next_time", "current_count", "last_timeout", "created_time",
                  "action", "params")


def encode(plan: plan_module.Plan) -> bytes:
    """``plan`` in the original's encoding."""
    import msgpack

    return msgpack.packb({name: getattr(plan, name) for name in ENCODED_FIELDS},
                         use_bin_type=False)


def decode(data: bytes) -> dict[str, Any]:
    """The fields of a plan in the original's encoding (a ``next_time`` of None is 0)."""
    import msgpack

    fields = msgpack.unpackb(data, raw=False, strict_map_key=False)
    if fields.get("next_time") is None:
        fields["next_time"] = 0
    return fields


@attrs.define(slots=True, eq=False)
class Plan(plan_module.Plan):
    """A plan as the original's stores and actions handled it (``dumps()`` and
    ``Plan.loads(data)`` are :class:`forsun.plan.Plan`'s)."""

    @classmethod
    def of(cls, plan: plan_module.Plan) -> Plan:
        """A copy of ``plan`` (params included) as this class."""
        return cls(**plan.to_dict())

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, plan_module.Plan):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __ne__(self, other: Any) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment] - mutable, like forsun.plan.Plan
