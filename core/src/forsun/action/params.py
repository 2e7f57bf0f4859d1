"""Reading typed values out of a plan's params (all strings), with errors naming the param."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ForsunPlanError


def int_param(params: Mapping[str, str], name: str, default: int, low: int,
              high: int = 2**31 - 1) -> int:
    """``params[name]`` as an int in ``[low, high]``; absent or empty gives ``default``.

    A value that is not an integer or out of range raises 1004 naming ``params.NAME``.
    """
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ForsunPlanError.invalid(f"params.{name}", f"{raw!r} is not an integer") from None
    if not low <= value <= high:
        raise ForsunPlanError.invalid(f"params.{name}", f"{value} is not in {low}..{high}")
    return value
