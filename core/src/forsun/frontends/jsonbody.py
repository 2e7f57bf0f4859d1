"""JSON of the HTTP API: orjson for speed, the standard library for what orjson refuses.

Bulk creation decodes and (unless ``?reply=keys``) encodes every plan, so the C codec
matters there. orjson is stricter than :mod:`json`: where it refuses a body (a UTF-8
byte-order mark, ``NaN``, a lone surrogate, an empty body) or a reply value (a non-string
key, a lone surrogate, an integer past 64 bits), the caller or :func:`dumps` falls back to
:mod:`json`, so the API accepts, refuses and explains what it did with :mod:`json` alone.
One difference remains: orjson reads an integer past 64 bits as a float, so the front end
refuses such a number where it would have kept its digits (see ``http_handlers._params``).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

#: Raised by :func:`parse` for a body the caller should hand to :mod:`json` instead.
NotParsed = orjson.JSONDecodeError


def parse(data: bytes | bytearray) -> Any:
    """The JSON value of ``data``; :data:`NotParsed` when orjson refuses it (the body may
    still be JSON to :mod:`json`, or deserve its error message)."""
    return orjson.loads(data)


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON: characters unescaped, except in a value orjson
    refuses (a lone surrogate can only be sent escaped)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":")).encode("ascii")
