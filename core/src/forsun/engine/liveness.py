"""Heartbeats and epochs: whether this node's claims are still its own.

Stores with ``heartbeat_interval`` (capability ``heartbeat``, see :mod:`forsun.store.base`)
take over the claims of a node that falls silent. The engine therefore renews its node every
``heartbeat_interval`` seconds, ``node_lease`` ahead, so a node that dies has its claims
taken over by another node's claim within ``node_lease`` plus a tick. Its claims are safe
until the ``alive_until`` of its last heartbeat (by its own clock): an occurrence is acted
on (rescheduled, started) only before that time, else only once a new heartbeat has
answered. A heartbeat answering that the claims were taken over (the node was silent longer
than ``node_lease``: paused, cut off) starts a new *epoch*: every occurrence claimed before
that and not started yet is dropped, never fired nor acked, since another node fires it.
Actions already running then run on, so such an occurrence may fire twice (at-least-once);
an ack of a finished one is still written (it did run). Claims and heartbeats take turns
(:meth:`Liveness.turn`), so a claim is of the epoch it started in.

Stores without heartbeats keep one epoch forever and every claim is always safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable

import attrs

from ..clock import Clock, wait_or_sleep
from ..stats import Stats
from ..store.base import Store
from ..tasks import cancel

log = logging.getLogger(__package__)  # "forsun.engine", as the log lines always said


@attrs.define(eq=False)
class Liveness:
    """The heartbeats of node ``node_id``. ``forfeit`` drops what the engine claimed and has
    not started (it is called when the claims were taken over) and returns how many."""

    store: Store
    node_id: str
    stats: Stats
    clock: Clock
    forfeit: Callable[[], int]
    #: Incremented each time this node's claims were taken over.
    epoch: int = attrs.field(init=False, default=0)
    _alive_until: float = attrs.field(init=False)
    _turn: asyncio.Lock = attrs.field(init=False, factory=asyncio.Lock)
    _heartbeats: asyncio.Task[None] | None = attrs.field(init=False, default=None)
    _wanted: asyncio.Event = attrs.field(init=False, factory=asyncio.Event)
    #: Set (and replaced) by each heartbeat answered.
    _answered: asyncio.Event = attrs.field(init=False, factory=asyncio.Event)

    @_alive_until.default
    def _unconfirmed_at_first(self) -> float:
        return -math.inf if self.store.heartbeat_interval else math.inf

    async def start(self) -> None:
        """Send the first heartbeat and keep sending them (stores with heartbeats)."""
        if self.store.heartbeat_interval:
            await self._heartbeat(first=True)
            self._heartbeats = asyncio.create_task(self._heartbeat_loop(),
                                                   name="forsun-heartbeat")

    async def stop(self) -> None:
        await cancel(self._heartbeats)
        self._heartbeats = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold off heartbeats while a claim runs: the claim is of the present epoch."""
        async with self._turn:
            yield

    def unconfirmed(self) -> bool:
        """True once the last heartbeat's ``alive_until`` has passed: :meth:`confirm`
        before acting on a claim."""
        return self.clock.now() >= self._alive_until

    async def confirm(self) -> None:
        """Return once a heartbeat has answered that this node's claims are safe now, or
        lost (then :attr:`epoch` has changed)."""
        while self.unconfirmed():
            answered = self._answered
            self._wanted.set()
            await answered.wait()

    async def _heartbeat_loop(self) -> None:
        """Renew this node every ``heartbeat_interval``, or at once when an occurrence
        waits for it (:meth:`confirm`)."""
        interval = self.store.heartbeat_interval
        assert interval is not None
        while True:
            await wait_or_sleep(self.clock, self._wanted.wait(), interval)
            self._wanted.clear()
            try:
                await self._heartbeat()
            except Exception as exc:
                log.warning("heartbeat failed (%s: %s); actions wait for one once the node "
                            "lease ends", type(exc).__name__, exc)

    async def _heartbeat(self, *, first: bool = False) -> None:
        """Renew this node. On the ``first`` heartbeat a False answer means nothing: no
        claim is older."""
        async with self._turn:
            alive_until = self.clock.now() + self.store.node_lease
            intact = await self.store.heartbeat(self.node_id, alive_until)
            self._alive_until = alive_until
            if not (intact or first):
                self._lose_claims()
        answered, self._answered = self._answered, asyncio.Event()
        answered.set()

    def _lose_claims(self) -> None:
        """This node's claims were taken over: start a new epoch and drop every occurrence
        of the old one that has not started."""
        self.epoch += 1
        dropped = self.forfeit()
        self.stats.inc("claims_lost_count")
        self.stats.inc("claims_lost_dropped_count", dropped)
        log.warning("this node was silent longer than the node lease and its claims were "
                    "taken over by another node; dropped %d queued or held occurrences "
                    "(actions already running finish and may fire twice)", dropped)
