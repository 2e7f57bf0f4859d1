"""Finding the next intact frame (log) or block (snapshot) after damaged bytes.

Both files are sequences of checksummed units whose header holds a kind byte. After a
damaged unit, the reader looks at every later offset whose byte at the kind's position is a
valid kind and asks the caller whether a whole unit with a matching CRC-32 starts there.
Random bytes pass both tests with a chance of about ``len(kinds) / 256 * 2**-32`` per
offset (under 10^-11), so resynchronising on garbage is practically impossible. Only a
unit a client wrote on purpose into its own data (a plan's params holding a whole log
frame) could be taken for one when damage falls just before it, and it would do nothing
that client cannot do through the API.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import attrs


@attrs.frozen
class Region:
    """Damaged bytes from file offset ``start`` up to ``end`` (excluded)."""

    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def kind_pattern(kinds: Iterable[int]) -> re.Pattern[bytes]:
    """A pattern matching one byte that is one of ``kinds``."""
    return re.compile(b"[" + b"".join(re.escape(bytes([kind])) for kind in sorted(kinds)) + b"]")


def next_intact(buf: bytes | memoryview, start: int, kinds: re.Pattern[bytes], kind_at: int,
                intact: Callable[[int], bool]) -> int | None:
    """The first offset ``>= start`` where ``intact(offset)`` holds among those whose byte
    at ``offset + kind_at`` matches ``kinds``; None when there is none."""
    for match in kinds.finditer(buf, start + kind_at):
        if intact(match.start() - kind_at):
            return match.start() - kind_at
    return None
