"""JSON of the HTTP API: orjson for speed, the standard library for what orjson refuses.

Bulk creation decodes and (unless ``?reply=keys``) encodes every plan, so the C codec
matters there. orjson is stricter than :mod:`json`: where it refuses a body (a UTF-8
byte-order mark, ``NaN``, a lone surrogate, an empty body) or a reply value (a non-string
key, a lone surrogate, an integer past 64 bits), the caller or :func:`dumps` falls back to
:mod:`json`, so the API accepts, refuses and explains what it did with :mod:`json` alone.
One difference remains: orjson reads an integer past 64 bits as a float, so the front end
refuses such a number where it would have kept its digits (see ``http_decoding._params``).

A big array is decoded in slices (:func:`array_slices`) and a big reply encoded in slices
(:class:`Fragment`), so that the caller can give the event loop a turn between them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import orjson

#: Raised by :func:`parse` for a body the caller should hand to :mod:`json` instead.
NotParsed = orjson.JSONDecodeError
#: JSON already encoded by :func:`dumps`, to be put as it is into a value :func:`dumps`
#: encodes (with orjson: such a value must not need the standard library's fallback).
Fragment = orjson.Fragment
#: Bytes of an array :func:`array_slices` decodes at a time (about 400 plans, ~0.5 ms).
SLICE_BYTES = 64 << 10

_SPACE = b" \t\n\r"
_SPACES = re.compile(rb"[ \t\n\r]*")
_BETWEEN_OBJECTS = re.compile(rb"\}[ \t\n\r]*,[ \t\n\r]*\{")


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


def array_slices(data: bytes | bytearray, size: int = SLICE_BYTES) -> Iterator[list[Any]] | None:
    """The items of the JSON array ``data``, a list per ``size`` bytes or so; None when
    ``data`` is not ``[`` ... ``]`` (give it to :func:`parse`).

    The array is cut between two objects (``}`` ``,`` ``{``), at the first such place past
    ``size`` bytes, and each piece is decoded as an array of its own. A cut inside a string
    or inside an item leaves a piece that ends within that string or item, which is never
    valid JSON: the piece is then extended to a later cut, twice as long each time (at most
    to the end of the array). So the pieces decode exactly when the whole array does, to
    the same items. Raises :data:`NotParsed` (possibly after yielding some lists) when a
    piece is not JSON to orjson even as the whole rest of the array: the caller then
    decodes the whole body with :func:`parse` or :mod:`json` instead.
    """
    start, end = _SPACES.match(data).end(), len(data)
    if end and data[end - 1] in _SPACE:
        end = len(data.rstrip(_SPACE))  # a copy, but at C speed even for 16 MiB of spaces
    if end - start < 2 or data[start] != ord("[") or data[end - 1] != ord("]"):
        return None
    return _pieces(data, _SPACES.match(data, start + 1).end(), end - 1, size)


def _pieces(data: bytes | bytearray, pos: int, end: int, size: int) -> Iterator[list[Any]]:
    """:func:`array_slices` of the array's inside ``data[pos:end]`` (nothing if empty)."""
    while pos < end:
        reach = pos + size
        while True:
            cut = _BETWEEN_OBJECTS.search(data, reach, end)
            stop = cut.start() + 1 if cut else end
            try:
                items = orjson.loads(b"[" + data[pos:stop] + b"]")
            except NotParsed:
                if cut is None:
                    raise
                reach = stop + (stop - pos)  # a cut inside a string or an item: go further
                continue
            break
        yield items
        pos = cut.end() - 1 if cut else end
