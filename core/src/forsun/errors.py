"""Error codes of the forsun protocol and the one exception type that carries them."""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """The codes every front end returns (Thrift ``ForsunPlanError.code``, HTTP ``errcode``)."""

    UNKNOWN = 1001
    TIME_NEVER_ARRIVES = 1002
    NOT_FOUND = 1003
    STORE_FAILED = 1004
    REMOVE_FAILED = 1005
    UNKNOWN_ACTION = 1006
    MISSING_ARGUMENT = 1007


class ForsunPlanError(Exception):
    """A refused or failed plan operation: ``code`` is an :class:`ErrorCode`, ``message`` names
    the field or target at fault."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(code, message)
        self.code = int(code)
        self.message = message or ErrorCode(code).name.lower().replace("_", " ")

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    @classmethod
    def not_found(cls, key: str) -> ForsunPlanError:
        return cls(ErrorCode.NOT_FOUND, f"plan {key!r} not found")

    @classmethod
    def invalid(cls, field: str, problem: str) -> ForsunPlanError:
        return cls(ErrorCode.STORE_FAILED, f"{field}: {problem}")

    @classmethod
    def missing(cls, field: str, owner: str = "") -> ForsunPlanError:
        where = f" by action {owner!r}" if owner else ""
        return cls(ErrorCode.MISSING_ARGUMENT, f"{field} is required{where}")
