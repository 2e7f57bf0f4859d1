"""What an HTTP API request says: its body as text or JSON, its JSON objects as plans.

Request bodies are JSON whatever the Content-Type, except ``application/crontab``: one
``set`` line per line (:func:`forsun.setline.parse_crontab`). A big body is decoded in
slices, as a job of the service's :class:`~forsun.pacing.Pacer`, so that firing and other
requests go on meanwhile.

Errors are :class:`~forsun.errors.ForsunPlanError` naming the member at fault (1004,
``[2].second: must be an integer``), or :class:`BadRequest` for a body that cannot be used
at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ..errors import ErrorCode, ForsunPlanError
from ..pacing import Pacer, steps
from ..plan import Plan
from ..setline import parse_crontab
from . import jsonbody

#: Defaults of the integer members of a plan request (the original HTTP API's).
_REQUEST_DEFAULTS = (("minute", -1), ("hour", -1), ("day", -1), ("month", -1), ("week", -1),
                     ("count", 0))
#: An integer sent as a string (bounded: Python refuses to convert very long digit strings).
_INT_TEXT = re.compile(r"\s*[-+]?\d{1,30}\s*")
#: Any integer's text, however long.
_DIGITS = re.compile(r"\s*[-+]?\d+\s*")


class BadRequest(ForsunPlanError):
    """A request body that cannot be used at all; answered with HTTP ``status``."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(code, message)
        self.status = status


# -- plans ------------------------------------------------------------------------------------


def plan_from_json(obj: dict[str, Any], *, is_time_out: bool) -> Plan:
    """The plan a JSON request object describes (members as in DESIGN 3.3: ``seconds`` or
    ``second``, integers also as ``"90"`` or ``3.0``, number params as their text; absent
    members take the original API's defaults). Raises 1004 naming the member for a wrong
    type. The plan owns ``obj``'s params map when it is already a map of strings."""
    get = obj.get
    values = []
    for member, default in _REQUEST_DEFAULTS:
        raw = get(member)
        values.append(default if raw is None else raw if type(raw) is int
                      else _integer(raw, member))
    minute, hour, day, month, week, count = values
    second, key, action = _second(obj), get("key"), get("action")
    return Plan(key if type(key) is str else _string(key, "", "key"),
                second, minute, hour, day, month, week, is_time_out, count,
                action=action if type(action) is str else _string(action, "shell", "action"),
                params=_params(get("params")))


def with_state(plan: Plan, obj: dict[str, Any]) -> Plan:
    """``plan`` with the schedule state members of ``obj`` (``next_time``,
    ``current_count``, ``last_timeout``: integers; ``created_time``: a number)."""
    for member in ("next_time", "current_count", "last_timeout"):
        raw = obj.get(member)
        if raw is not None:
            setattr(plan, member, _integer(raw, member))
    created = obj.get("created_time")
    if created is not None:
        if isinstance(created, bool) or not isinstance(created, int | float):
            raise ForsunPlanError.invalid("created_time", f"must be a number, not "
                                                          f"{_show(created)}")
        plan.created_time = float(created)
    return plan


def _second(obj: dict[str, Any]) -> int:
    """The ``seconds`` or ``second`` member (-1 without either; 1004 if they differ)."""
    seconds, second = obj.get("seconds"), obj.get("second")
    if second is None:
        if seconds is None:
            return -1
        return seconds if type(seconds) is int else _integer(seconds, "seconds")
    value = _integer(second, "second")
    if seconds is not None and _integer(seconds, "seconds") != value:
        raise ForsunPlanError.invalid("second", "differs from seconds; send one of them")
    return value


def _integer(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise ForsunPlanError.invalid(field, "must be an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return int(value)
    raise ForsunPlanError.invalid(field, f"must be an integer, not {_show(value)}")


def _string(value: Any, default: str, field: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise ForsunPlanError.invalid(field, f"must be a string, not {_show(value)}")
    return value


#: A float param this large may be an integer the JSON reader rounded (orjson keeps
#: integers exact only in [-2**63, 2**64)); smaller floats are kept as their str().
_EXACT_FLOAT_LIMIT = float(1 << 63)


def _params(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ForsunPlanError.invalid("params", f"must be a JSON object, not {_show(value)}")
    for item in value.values():
        if type(item) is not str:
            break
    else:
        return value  # the usual case: already a map of strings
    params = {}
    for key, item in value.items():
        if isinstance(item, str):
            params[key] = item
        elif type(item) is float and abs(item) >= _EXACT_FLOAT_LIMIT:
            # the JSON reader gives integers past 64 bits as floats: the digits are gone
            raise ForsunPlanError.invalid(f"params.{key}", "a number this large loses digits; "
                                                          "send it as a string")
        elif isinstance(item, int | float) and not isinstance(item, bool):
            params[key] = str(item)
        else:
            raise ForsunPlanError.invalid(f"params.{key}", f"must be a string, not {_show(item)}")
    return params


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def is_time_out_member(item: dict[str, Any]) -> bool:
    """The kind of a ``POST /v1/plans`` item: its ``is_time_out`` member (false when
    absent)."""
    flag = item.get("is_time_out")
    if flag is None or flag in (0, 1):  # also False and True
        return bool(flag)
    raise ForsunPlanError.invalid("is_time_out", f"must be true or false, not {_show(flag)}")


#: The ``method`` member of a ``/v1/plan`` array item: is the plan a delay plan?
_METHODS = {"createTimeout": True, "create": False}


def method_member(item: dict[str, Any]) -> bool:
    """The kind of a ``/v1/plan`` array item, as in the original whatever the HTTP method:
    a delay plan unless its ``method`` member is ``create``."""
    method = item.get("method")
    if method is None:
        return True
    kind = _METHODS.get(method) if type(method) is str else None
    if kind is None:
        raise ForsunPlanError.invalid("method", f"must be \"create\" or \"createTimeout\", "
                                                f"not {_show(method)}")
    return kind


async def plans_from_json(items: list[Any], pacer: Pacer,
                          is_time_out: Callable[[dict[str, Any]], bool], *,
                          keep_state: bool = False) -> list[Plan]:
    """The plans of a JSON array (a job of ``pacer``), each a delay plan if
    ``is_time_out(item)`` (:func:`method_member`, :func:`is_time_out_member`);
    ``keep_state``: with the schedule state each item carries (:func:`with_state`). An
    error names the item (``[2].second: ...``)."""
    plans: list[Plan] = []
    async with pacer.job() as job:
        for part in steps(items):
            for index, item in enumerate(part, len(plans)):
                if not isinstance(item, dict):
                    raise ForsunPlanError.invalid(f"[{index}]", "must be a JSON object")
                try:
                    plan = plan_from_json(item, is_time_out=is_time_out(item))
                    plans.append(with_state(plan, item) if keep_state else plan)
                except ForsunPlanError as exc:
                    raise ForsunPlanError(exc.code, f"[{index}].{exc.message}") from exc
            await job.pause()
    return plans


async def plans_from_crontab(text: str, pacer: Pacer) -> tuple[list[int], list[Plan]]:
    """The plans of a crontab body and their line numbers, parsed as a job of ``pacer``
    (:func:`forsun.setline.parse_crontab`; an error names the line)."""
    numbers: list[int] = []
    plans: list[Plan] = []
    async with pacer.job() as job:
        for part in steps(parse_crontab(text)):
            numbers += [number for number, _ in part]
            plans += [plan for _, plan in part]
            await job.pause()
    return numbers, plans


# -- bodies ----------------------------------------------------------------------------------


def body_text(body: bytes | bytearray) -> str:
    """The body as text (UTF-8, a byte-order mark skipped); 400 if it is not UTF-8."""
    try:
        return bytes(body).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(ErrorCode.STORE_FAILED,
                         f"body: not UTF-8 ({exc.reason} at byte {exc.start})") from None


async def json_value(body: bytes | bytearray, pacer: Pacer) -> Any:
    """The body's JSON value. An array is decoded in slices, as a job of ``pacer``; a body
    orjson refuses is decoded by :mod:`json`, which reads a few more (a byte-order mark,
    ``NaN``) and explains what is wrong with the rest (400)."""
    try:
        return await _orjson_value(body, pacer)
    except jsonbody.NotParsed:
        pass  # json may still read it (a BOM, NaN) or explain what is wrong
    text = body_text(body)
    if not text.strip():
        raise BadRequest(ErrorCode.MISSING_ARGUMENT, "body: a JSON plan is required")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(ErrorCode.STORE_FAILED, f"body: invalid JSON: {exc}") from None


async def _orjson_value(body: bytes | bytearray, pacer: Pacer) -> Any:
    """The body's JSON value read by orjson, an array in slices (:data:`jsonbody.NotParsed`
    when orjson refuses it: the slices of an array decode exactly when the whole does)."""
    slices = jsonbody.array_slices(body)
    if slices is None:
        return jsonbody.parse(body)
    items: list[Any] = []
    async with pacer.job() as job:
        for part in slices:
            items += part
            await job.pause()
    return items


def query_integer(name: str, value: str, low: int, high: int) -> int:
    """Query argument ``name`` (text ``value``) as an integer in ``[low, high]`` (0 when
    empty). Text that is no integer is 1007 (the original's "argument required"), an
    integer outside the bounds 1004, each naming ``name``."""
    if not value:
        return 0
    if not _DIGITS.fullmatch(value):
        raise ForsunPlanError(ErrorCode.MISSING_ARGUMENT,
                              f"{name}: must be an integer, not {_show(value)}")
    if not _INT_TEXT.fullmatch(value):
        raise ForsunPlanError.invalid(name, f"{value.strip()[:20]}... is outside [{low}, {high}]")
    number = int(value)
    if not low <= number <= high:
        raise ForsunPlanError.invalid(name, f"{number} is outside [{low}, {high}]")
    return number
