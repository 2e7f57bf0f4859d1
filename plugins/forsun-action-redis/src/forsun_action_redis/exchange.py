"""One firing's exchange with Redis on one pooled connection: its commands in order, one
reply each, and the connection handed back in the state of a new one.

A firing may change the state of its connection (MULTI, WATCH, SELECT, AUTH, CLIENT
TRACKING / NO-EVICT, READONLY ...). Rather than knowing which commands do, every firing
ends with ``RESET`` (Redis >= 6.2), which undoes all of that, and then the ``AUTH`` and
``SELECT`` a new connection of the pool starts with. These go out in the same write as the
firing's last command, so they cost no round trip of their own. A connection that cannot be
brought back (a server without ``RESET``, replies out of step, a lost connection, a
cancelled firing) is disconnected, and the pool connects it anew for the next firing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis import exceptions as rexc
from redis.asyncio.connection import AbstractConnection

Command = Sequence[str]

#: Failures that may pass: the server is unreachable, still loading, a read-only replica
#: during a failover, or asks to try again. A refused password does not pass by itself.
RETRIED = (rexc.ConnectionError, rexc.TimeoutError, rexc.ReadOnlyError, rexc.TryAgainError,
           rexc.MasterDownError, OSError)
NOT_RETRIED = (rexc.AuthenticationError,)


def is_retried(exc: BaseException) -> bool:
    """Whether a failure may pass by itself, as opposed to a wrong command or password."""
    return isinstance(exc, RETRIED) and not isinstance(exc, NOT_RETRIED)


class CommandFailed(Exception):
    """Command ``number`` (from 1) of a firing failed, or did not do its work; ``retry``
    tells whether trying the firing again later may succeed."""

    def __init__(self, number: int, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.number = number
        self.retry = retry

    @classmethod
    def of(cls, number: int, exc: BaseException) -> CommandFailed:
        return cls(number, str(exc) or type(exc).__name__, retry=is_retried(exc))


def restoring_commands(db: int, password: str) -> list[tuple[str, ...]]:
    """The commands that bring a used connection back to the state of a new one of the
    pool for database ``db`` and ``password``."""
    commands = [("RESET",)]
    if password:
        commands.append(("AUTH", password))
    if db:
        commands.append(("SELECT", str(db)))
    return commands


async def run_firing(conn: AbstractConnection, commands: Sequence[Command],
                     restore: Sequence[Command]) -> None:
    """Run ``commands`` on ``conn`` in order, each once, up to the first that fails, then
    ``restore`` (:func:`restoring_commands`).

    Raises :class:`CommandFailed` for an error reply, and for work that did not happen: an
    ``EXEC`` whose transaction a ``WATCH`` aborted (``retry``) or holding a failed command,
    a transaction left without ``EXEC``, replies out of step with the commands. A
    connection that is not back in its first state on return is disconnected.
    """
    try:
        failure = await _exchange(conn, commands, restore)
    except BaseException:
        await conn.disconnect(nowait=True)
        raise
    if failure is not None:
        raise failure


async def _exchange(conn: AbstractConnection, commands: Sequence[Command],
                    restore: Sequence[Command]) -> CommandFailed | None:
    """Returns the failure after which the connection was restored; raises one after
    which its state is unknown. ``commands`` is not empty."""
    transaction = _Transaction()
    for number, argv in enumerate(commands, 1):
        last = number == len(commands)
        await _send(conn, number, [argv, *restore] if last else [argv])
        failure = await _read_reply(conn, number, argv, transaction)
        if failure is not None or last:
            break
    if failure is None:
        failure = transaction.check_closed(number)
    if not last:
        await _send(conn, number, restore)
    await _read_restored(conn, len(restore), number)
    return failure


async def _read_reply(conn: AbstractConnection, number: int, argv: Command,
                      transaction: _Transaction) -> CommandFailed | None:
    try:
        reply = await conn.read_response()
    except rexc.ResponseError as exc:
        return CommandFailed.of(number, exc)
    except (rexc.RedisError, OSError) as exc:
        raise CommandFailed.of(number, exc) from exc
    return transaction.check(number, argv, reply)


async def _send(conn: AbstractConnection, number: int, batch: Sequence[Command]) -> None:
    try:
        await conn.send_packed_command(conn.pack_commands(batch), check_health=False)
    except (rexc.RedisError, OSError) as exc:
        raise CommandFailed.of(number, exc) from exc


async def _read_restored(conn: AbstractConnection, count: int, number: int) -> None:
    """Read the ``count`` replies of the restoring commands sent after command ``number``."""
    replies: list[Any] = []
    try:
        for _ in range(count):
            try:
                replies.append(await conn.read_response())
            except rexc.ResponseError as exc:
                replies.append(exc)
    except (rexc.RedisError, OSError):
        # The connection is gone; the firing's own replies stand (its last may be QUIT).
        await conn.disconnect(nowait=True)
        return
    if replies[0] != b"RESET" and not isinstance(replies[0], rexc.ResponseError):
        raise CommandFailed(number, "Redis sent more replies than commands", retry=False)
    if replies[0] != b"RESET" or any(reply != b"OK" for reply in replies[1:]):
        await conn.disconnect(nowait=True)  # no RESET (Redis < 6.2), or a changed password


class _Transaction:
    """Follows MULTI ... EXEC through a firing's replies."""

    def __init__(self) -> None:
        self.open = False

    def check(self, number: int, argv: Command, reply: Any) -> CommandFailed | None:
        """The failure that the successful ``reply`` to command ``number`` reports."""
        name = argv[0].upper()
        if name == "MULTI":
            self.open = True
        elif name in ("EXEC", "DISCARD", "RESET"):
            self.open = False
        if name == "EXEC" and reply is None:
            return CommandFailed(number, "the transaction did not run: a WATCHed key changed",
                                 retry=True)
        if isinstance(reply, list):
            for index, item in enumerate(reply, 1):
                if isinstance(item, rexc.ResponseError):
                    what = "queued command" if name == "EXEC" else "reply item"
                    return CommandFailed(number, f"{what} {index} of {len(reply)}: {item}",
                                         retry=False)
        return None

    def check_closed(self, number: int) -> CommandFailed | None:
        """The failure of a firing that ended, after command ``number``, with MULTI open."""
        if not self.open:
            return None
        return CommandFailed(number, "MULTI without EXEC: the transaction never ran",
                             retry=False)
