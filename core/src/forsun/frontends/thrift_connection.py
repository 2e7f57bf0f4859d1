"""One connection of the Thrift front end, served as an :class:`asyncio.Protocol`.

The bytes a connection receives are decoded as they arrive (:class:`~.thrift_protocol.
CallReader`), and a call complete in them runs at once, inside ``data_received``: its
coroutine is started with ``send(None)`` and, when it finishes without suspending (a create
with the mem store does), its reply is written before ``data_received`` returns. A call
that suspends is finished by a task; so is every call when the store is not ``inline``
(:data:`forsun.store.base.INLINE`: its methods may need to run in a task). This spares
each call the wake-ups of the stream machinery and a task step (issue 26: one
``epoll_wait`` per call instead of two; 9 % fewer instructions per createTimeout).

Calls run one at a time per connection, in the order received, and are answered in that
order (a client may send several in one write). No call starts while one runs as a task
or while the transport's write buffer is above its high-water mark; reading pauses while
more than :data:`PAUSE_BYTES` wait unprocessed, so a client that never reads its replies
holds a bounded amount of memory.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Coroutine, Generator
from typing import TYPE_CHECKING, Any

from .acceptor import close_if_never_ran
from .thrift_protocol import BufferFull, CallReader, MalformedMessage

if TYPE_CHECKING:
    from .thrift import ThriftFrontend
    from .thrift_protocol import Call

log = logging.getLogger("forsun.frontends.thrift")  # the front end's log lines, as before

#: Unprocessed bytes beyond which a connection stops reading until its calls catch up.
PAUSE_BYTES = 1 << 16


class ThriftConnection(asyncio.Protocol):
    """Serves one accepted connection (see the module docstring). It counts as open from
    its creation: :meth:`close` works before the transport exists."""

    def __init__(self, frontend: ThriftFrontend, peer: Any) -> None:
        self.frontend = frontend
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        #: The task finishing a call that suspended, while it runs.
        self.running: asyncio.Task[bytes | None] | None = None
        self._reader = CallReader(frontend._idl.Forsun, frontend._limits)
        self._setup: asyncio.Task[Any] | None = None
        self._writing_paused = False
        self._reading_paused = False
        self._eof = False
        self._closed = False

    def start(self, sock: socket.socket) -> None:
        """Make the transport of ``sock`` (which this connection now owns)."""
        loop = asyncio.get_running_loop()
        self._setup = loop.create_task(loop.connect_accepted_socket(lambda: self, sock=sock))
        self._setup.add_done_callback(lambda task: self._set_up(task, sock))

    @property
    def busy(self) -> bool:
        """A call runs as a task, or its replies wait for the client to read them."""
        return self.running is not None or self._writing_paused

    def close(self, *, abort: bool = False) -> None:
        """Close the connection, after writing the replies buffered unless ``abort``; a
        call running as a task is cancelled."""
        self._forget()
        if self.running is not None:
            self.running.cancel()
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
        elif self._setup is not None:
            self._setup.cancel()

    def _forget(self) -> None:
        """Stop counting the connection (once)."""
        if not self._closed:
            self._closed = True
            self.frontend._connections.discard(self)
            self.frontend.service.stats.dec("connecting_count")
            self._reader.release()

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self._closed:  # dropped while the transport was being made
            transport.close()

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        self._serve()

    def eof_received(self) -> bool:
        self._eof = True
        self._serve()
        return True  # keep the transport open for the replies still to write

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            log.debug("thrift client %s went away: %s", self.peer, exc)
        # A call running as a task goes on (its reply goes nowhere), as it always did.
        self.transport = None
        self._forget()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._serve()

    # -- serving -------------------------------------------------------------------------

    def _set_up(self, task: asyncio.Task[Any], sock: socket.socket) -> None:
        self._setup = None
        # Cancelled after the transport took the socket, asyncio has closed the transport:
        # closing the socket object again is harmless.
        close_if_never_ran(sock, task)
        if task.cancelled():
            self.close()
        elif (exc := task.exception()) is not None:
            log.debug("thrift client %s went away: %s", self.peer, exc)
            sock.close()
            self.close()

    def _serve(self) -> None:
        """Answer the calls received, in order, while no call runs as a task and writes
        flow; then pause or resume reading, and say whether the connection now waits on
        its client."""
        reader = self._reader
        frontend = self.frontend
        transport = self.transport
        while (self.running is None and not self._writing_paused and not self._closed
               and transport is not None and not transport.is_closing()):
            if frontend._closing:
                self.close()
                return
            try:
                call = reader.next_call()
            except BufferFull:
                log.warning("--port: calls being received fill --thrift-buffer-bytes; "
                            "closing the connections whose call needs more")
                self.close()
                return
            except MalformedMessage as exc:
                log.info("thrift client %s: %s; closing its connection", self.peer, exc)
                self.close()
                return
            if call is None:
                if self._eof:
                    if reader.inside_call:
                        log.info("thrift client %s: stream ended inside a message; closing "
                                 "its connection", self.peer)
                    self.close()
                    return
                break
            self._run(call)
        if self._closed or transport is None or transport.is_closing():
            return
        if reader.buffered > PAUSE_BYTES:
            if not self._reading_paused:
                self._reading_paused = True
                transport.pause_reading()
        elif self._reading_paused and not self._eof:
            self._reading_paused = False
            transport.resume_reading()
        if self.running is None and not self._writing_paused:
            frontend._connections.wait(self)
        else:
            frontend._connections.busy(self)

    def _run(self, call: Call) -> None:
        """Start answering ``call``; write the reply now if it needs no wait, else leave
        the rest to a task (:attr:`running`). A store that is not ``inline`` gets a task
        from the start: its methods may need one."""
        coro = self.frontend._answer(call, self._reader)
        if not self.frontend.inline:
            self.running = asyncio.get_running_loop().create_task(coro)
            self.running.add_done_callback(self._finished)
            return
        try:
            step = coro.send(None)
        except StopIteration as done:
            if done.value is not None:
                assert self.transport is not None
                self.transport.write(done.value)
            return
        except Exception:
            log.exception("thrift connection from %s failed", self.peer)
            self.close()
            return
        self.running = asyncio.get_running_loop().create_task(_finish(coro, step))
        self.running.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[bytes | None]) -> None:
        self.running = None
        if task.cancelled():
            log.debug("thrift connection from %s closed by the server", self.peer)
            return
        exc = task.exception()
        if exc is not None:
            log.error("thrift connection from %s failed", self.peer, exc_info=exc)
            self.close()
            return
        reply = task.result()
        if self.transport is None or self.transport.is_closing():
            return  # the client went away meanwhile
        if reply is not None:
            self.transport.write(reply)
        self._serve()


async def _finish(coro: Coroutine[Any, Any, bytes | None], step: Any) -> bytes | None:
    """The result of ``coro``, which has already run up to yielding ``step``."""
    return await _Started(coro, step)


class _Started:
    """Awaiting it resumes a coroutine that was started elsewhere and yielded ``step``:
    ``step`` goes to the awaiting task first, then values sent and exceptions thrown are
    passed on, as ``await`` would."""

    __slots__ = ("_coro", "_step")

    def __init__(self, coro: Coroutine[Any, Any, Any], step: Any) -> None:
        self._coro = coro
        self._step = step

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, step = self._coro, self._step
        self._step = None
        while True:
            try:
                sent = yield step
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # passed on, as await does
                try:
                    step = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    step = coro.send(sent)
                except StopIteration as done:
                    return done.value
