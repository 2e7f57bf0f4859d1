"""timerush's messages, and how a timerush timer maps onto a forsun plan.

A timer is ``(callback_cmd, callback_data, seconds)``. It is stored as an ordinary forsun
plan: a delay plan firing once, ``seconds`` after it was registered, with the action
:data:`ACTION` and the params ``callback_cmd`` / ``callback_data``. Its key is
:data:`KEY_PREFIX` followed by a UUID, so ``forsun ls timerush:`` lists every timer.

Every parser here raises :class:`ProtocolError` with a message naming the field at fault.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from forsun.plan import Plan

#: The action (and front end) name.
ACTION = "timerush"
KEY_PREFIX = "timerush:"
#: Longest delay a plan holds: its ``day`` field is a 16-bit integer.
MAX_SECONDS = 32767 * 86400 + 86399
#: Keys of follow-up timers are derived from (parent key, due second), so a notification
#: that is delivered again (a retry, a crash before its ack) replaces its follow-up instead
#: of registering a second one.
_FOLLOW_UP_NAMESPACE = uuid.UUID("6f1d3c0e-8a0b-4c55-9a43-74696d657275")


class ProtocolError(ValueError):
    """A message that breaks the protocol; ``str()`` names the field."""


class NotAcceptedError(ProtocolError):
    """A callback's answer that does not accept the notification (not JSON, ``ret`` ≠ 0)."""


@attrs.frozen(slots=True)
class Timer:
    """A timerush timer: POST ``callback_data`` to ``callback_cmd`` in ``seconds``."""

    callback_cmd: str
    callback_data: str
    seconds: int


def parse_object(body: bytes) -> dict[str, Any]:
    """The JSON object in a request body (whatever its Content-Type said)."""
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("the body is not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("the body is not a JSON object")
    return message


def check_callback_url(value: Any, field: str = "callback_cmd") -> str:
    """``value`` if it is an absolute ``http://`` or ``https://`` URL."""
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{field}: must be a non-empty string (the callback URL)")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host or value != value.strip():
        raise ProtocolError(f"{field}: {value!r} is not an absolute http:// or https:// URL")
    return value


def parse_seconds(value: Any, field: str = "seconds") -> int:
    """A whole number of seconds in [1, :data:`MAX_SECONDS`] (timerush took ``int(value)``:
    numeric strings and integral floats are accepted, booleans are not)."""
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, float) and value.is_integer():
        seconds = int(value)
    elif isinstance(value, str):
        try:
            seconds = int(value.strip())
        except ValueError:
            seconds = None
    if seconds is None or not 1 <= seconds <= MAX_SECONDS:
        raise ProtocolError(f"{field}: must be a whole number of seconds in "
                            f"[1, {MAX_SECONDS}], not {value!r}")
    return seconds


def parse_timer(message: Mapping[str, Any], prefix: str = "") -> Timer:
    """The timer a ``/register/`` request (or a callback's ``data``) asks for. ``prefix``
    is put before field names in messages (``data.`` for a callback's answer)."""
    for field in ("callback_cmd", "callback_data", "seconds"):
        if field not in message:
            raise ProtocolError(f"{prefix}{field}: missing")
    data = message["callback_data"]
    if not isinstance(data, str):
        data = json.dumps(data)  # sent as its JSON text (the raw body of the notification)
    return Timer(callback_cmd=check_callback_url(message["callback_cmd"],
                                                 f"{prefix}callback_cmd"),
                 callback_data=data,
                 seconds=parse_seconds(message["seconds"], f"{prefix}seconds"))


def parse_key(message: Mapping[str, Any]) -> str:
    """The key of an ``/unregister/`` request."""
    key = message.get("key")
    if not isinstance(key, str) or not key:
        raise ProtocolError("key: must be a non-empty string")
    return key


def parse_answer(body: bytes) -> Timer | None:
    """The follow-up timer a callback's answer asks for, or None.

    Raises :class:`NotAcceptedError` unless ``body`` is a JSON object whose ``ret`` is 0,
    and :class:`ProtocolError` when it is accepted but ``data.seconds`` > 0 comes with a
    missing or invalid ``data.callback_cmd`` / ``data.callback_data``.
    """
    try:
        answer = parse_object(body)
    except ProtocolError as exc:
        raise NotAcceptedError(f"the answer: {exc}") from None
    ret = answer.get("ret")
    if isinstance(ret, bool) or ret != 0:
        raise NotAcceptedError(f"the answer's ret is {ret!r}, not 0")
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("seconds") in (None, 0, "0"):
        return None
    return parse_timer(data, prefix="data.")


def new_key() -> str:
    return f"{KEY_PREFIX}{uuid.uuid4()}"


def follow_up_key(key: str, due: int) -> str:
    """The key of the follow-up timer that the notification of ``key`` due at ``due``
    registers (the same for every delivery of that notification)."""
    return f"{KEY_PREFIX}{uuid.uuid5(_FOLLOW_UP_NAMESPACE, f'{key}@{due}')}"


def timer_plan(timer: Timer, key: str) -> Plan:
    """The forsun plan of ``timer``: a delay plan firing once, ``timer.seconds`` from now
    (the seconds spread over the plan's day/hour/minute/second fields)."""
    days, rest = divmod(timer.seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return Plan(key=key, is_time_out=True, count=1, second=seconds, minute=minutes,
                hour=hours, day=days, action=ACTION,
                params={"callback_cmd": timer.callback_cmd,
                        "callback_data": timer.callback_data})


def remaining_seconds(plan: Plan, now: float) -> int:
    """timerush's ``ttl``: whole seconds until ``plan`` is due, 0 once it is."""
    return max(0, plan.next_time - int(now))
