"""Legacy import path: the original forsun's ``forsun.utils`` (the code lives in
:mod:`forsun.legacy.utils`)."""

from .legacy.utils import (
    bytes_type,
    ensure_bytes,
    ensure_unicode,
    is_py3,
    number_type,
    parse_cmd,
    string_type,
    unicode_type,
)

__all__ = ["bytes_type", "ensure_bytes", "ensure_unicode", "is_py3", "number_type",
           "parse_cmd", "string_type", "unicode_type"]
