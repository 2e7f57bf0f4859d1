"""The error the mem store raises when its files cannot be used."""

from __future__ import annotations

from forsun.errors import ErrorCode


class JournalError(Exception):
    """The files cannot be used as they are (locked by another process, damaged, or not
    belonging together); the message names the file and says what to do."""

    #: forsund reports an error that carries a code in one line, without a traceback.
    code = ErrorCode.STORE_FAILED

