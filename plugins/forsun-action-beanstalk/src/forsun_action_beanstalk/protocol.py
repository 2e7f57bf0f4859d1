"""The two commands of the beanstalkd protocol a producer needs, ``use`` and ``put``, over
asyncio streams (the protocol is beanstalkd's ``doc/protocol.txt``)."""

from __future__ import annotations

import asyncio
import re

#: A valid tube name: at most 200 bytes of letters, digits and ``-+/;.$_()``, not starting
#: with a hyphen.
TUBE_NAME = re.compile(r"[A-Za-z0-9+/;.$_()][A-Za-z0-9\-+/;.$_()]{0,199}")

#: Replies that may pass by themselves: the server is draining (restarting) or short of
#: memory. Every other error reply is about the job or the command.
TRANSIENT_REPLIES = frozenset({"DRAINING", "OUT_OF_MEMORY", "INTERNAL_ERROR"})


class ReplyError(Exception):
    """beanstalkd refused a command; ``reply`` is its answer line (e.g. ``JOB_TOO_BIG``)."""

    def __init__(self, command: str, reply: str) -> None:
        super().__init__(f"{command} answered {reply}")
        self.reply = reply

    @property
    def transient(self) -> bool:
        return self.reply.split(" ", 1)[0] in TRANSIENT_REPLIES


class BeanstalkConnection:
    """One connection to beanstalkd. Not safe for concurrent use: a pool hands it to one
    task at a time. It remembers the tube it uses, so ``use`` is sent only on a change."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.tube = "default"

    @classmethod
    async def open(cls, host: str, port: int, timeout: float) -> BeanstalkConnection:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        return cls(reader, writer)

    @property
    def stale(self) -> bool:
        """Whether the server has closed this connection (checked before reusing it)."""
        return self._reader.at_eof() or self._writer.is_closing()

    async def use(self, tube: str) -> None:
        if tube == self.tube:
            return
        reply = await self._command(f"use {tube}\r\n".encode())
        if reply != f"USING {tube}":
            raise ReplyError(f"use {tube}", reply)
        self.tube = tube

    async def put(self, body: bytes, priority: int, delay: int, ttr: int) -> int:
        """Put a job into the used tube; returns its id."""
        header = f"put {priority} {delay} {ttr} {len(body)}\r\n".encode()
        reply = await self._command(header + body + b"\r\n")
        word, _, job_id = reply.partition(" ")
        if word != "INSERTED":
            raise ReplyError("put", reply)
        return int(job_id)

    def close(self) -> None:
        self._writer.close()

    async def _command(self, data: bytes) -> str:
        self._writer.write(data)
        await self._writer.drain()
        try:
            line = await self._reader.readuntil(b"\r\n")
        except asyncio.IncompleteReadError:
            raise ConnectionResetError("beanstalkd closed the connection") from None
        return line[:-2].decode("ascii", "replace")
