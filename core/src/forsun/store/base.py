"""The store contract. Every store driver implements :class:`Store`; the conformance suite
(:mod:`forsun.testing`) checks each rule written here.

Vocabulary: a plan is *due* at ``plan.next_time``. An *occurrence* is ``(key, due second)``.
The engine *claims* due occurrences, fires them and *acks* them when the action finished.

Rules every store keeps:

- ``put`` creates or replaces by key, atomically, and indexes the plan by ``next_time``.
  Invalid plans (see :func:`forsun.plan.validate_plan`) raise ``ForsunPlanError`` 1004
  and change nothing (``put_many`` may be handed a :class:`forsun.plan.ValidatedPlans`,
  which the service has just validated: :func:`forsun.plan.validated_list` trusts it).
  A plan is acknowledged (``put`` returns) only once it is as durable as the store
  promises (capability ``durable``: survives SIGKILL of the process).
- ``put_many`` writes its plans in order: a key given twice ends with its later plan. A
  bulk creation (:meth:`forsun.service.Service.create_many`) validates its whole batch,
  then stores it with one ``put_many`` per :data:`forsun.service.STORE_STEP` plans, the
  event loop serving other calls in between: they see the slices stored so far, a write
  of the same key between two slices wins or loses by that order, and when a call fails
  the slices before it stay stored (the service's error says how many). A call should
  therefore store all its plans or, when it raises, none of them (the mem store undoes its
  log write, the redis store writes a slice with one script); a store that cannot must say
  so in its documentation.
- ``get``/``remove`` of a missing key raise ``ForsunPlanError`` 1003.
- ``keys(prefix)`` returns matching keys sorted; the prefix is literal text.
- ``due(start, end)`` returns plans with ``start <= next_time <= end`` ordered by
  ``(next_time, key)`` without changing anything (used by ``getTime``/``getCurrent``).
- ``claim(up_to, ...)`` atomically takes every plan with ``next_time <= up_to`` that no
  one has claimed, in ``(next_time, key)`` order (at most ``limit``), records an in-flight
  occurrence (a snapshot of the plan, the claiming ``node`` and a ``lease_until`` wall
  time), and returns the snapshots. It also returns in-flight occurrences whose lease has
  expired (their node died), re-leased to the caller. An occurrence is returned by at most
  one ``claim`` until its lease expires: nodes sharing a store never fire it twice.
- A claimed plan stays readable with ``get`` (and removable, and replaceable by ``put``)
  and is no longer due until ``reschedule`` puts its successor. ``get`` may report its
  status as executing; ``claim`` returns the status as stored (the engine tells a finished
  plan kept for ``status_expried`` by it). The engine reschedules an
  occurrence claimed ahead of its due second only at that second.
- ``reschedule(claimed, successor)`` replaces the stored plan by ``successor`` (or deletes
  it when ``successor`` is None) only if the stored plan is still the claimed one (same
  ``next_time`` and ``created_time``): a plan replaced or removed meanwhile is left alone.
  It returns whether the stored plan was still the claimed one; ``reschedule_many``
  returns that for each pair, in order. The engine fires an occurrence it claimed ahead
  only if it was, and acks it unfired otherwise. (The engine also calls ``reschedule``
  with a plan it read, to record the outcome of a finished plan's last action in its
  status.) A store may return None instead (stores
  written before this rule): every plan then counts as still claimed, so a plan removed
  or replaced after its occurrence was claimed ahead still fires once, as claimed.
- ``ack(claimed)`` forgets the in-flight occurrence: it is done and never returned again.
- ``extend_lease`` pushes an occurrence's lease (during long retries); ``release(node)``
  makes all in-flight occurrences of ``node`` claimable at once (a node restarting).
- Capability ``heartbeat``: a node's claims also end when the node falls silent.
  ``heartbeat(node, alive_until)`` registers or renews ``node`` as alive until
  ``alive_until`` (the node's clock; the engine sends one every ``heartbeat_interval``
  seconds, ``node_lease`` ahead). A ``claim`` at ``now`` first takes over the claims of
  every *other* registered node whose ``alive_until`` is before ``now``: its in-flight
  occurrences become claimable at once, whatever their own lease, and that node is marked
  taken over. A node marked so claims nothing until its next ``heartbeat``, which registers
  it again and returns False: every occurrence it claimed before is another node's now.
  ``heartbeat`` returns True when the node was registered and not taken over (a node
  silent past ``alive_until`` that no claim took over keeps its claims), False on its first
  heartbeat and after a takeover. A node that never sent a heartbeat loses its claims only
  by their own leases.
- The checkpoint is the last second fully processed; ``set_checkpoint`` keeps the
  maximum of the stored and the given value.
- Capability ``failures`` (:mod:`forsun.store.failures`): the store keeps the occurrences
  whose action failed on every attempt, as durably as its plans and shared by the nodes
  that share its plans. ``add_failure`` adds one, replacing one of the same id
  (``"DUE:KEY"``) and making it the newest; beyond :attr:`Store.failures_max` entries the
  oldest are dropped and counted (``dropped``, never reset). ``list_failures`` pages the
  failures whose key starts with ``prefix`` and whose action is ``action`` (empty: any),
  newest first, with how many match and how many were dropped; ``get_failures(ids)``
  returns those of ``ids`` that exist, in that order (None: all, newest first);
  ``remove_failures(ids)`` removes them (None: all) and returns how many were there.
  A store without the capability raises ``ForsunPlanError`` 1001 naming it.
- ``nodes()`` lists the nodes registered by heartbeats (capability ``heartbeat``): each
  node's id, the time it is alive until (None once taken over), and how many occurrences
  it holds in flight. A store may return None instead (every store without
  ``heartbeat``, and those written before this rule): the service then reports its own
  node alone.
"""

from __future__ import annotations

import abc
import asyncio
import math
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

import attrs

from ..errors import ErrorCode, ForsunPlanError
from .failures import DEFAULT_FAILURES_MAX, Failure, FailurePage

if TYPE_CHECKING:
    from ..options import Options
    from ..plan import Plan

#: Capabilities a store may declare; the conformance suite skips tests by capability.
DURABLE = "durable"  # acknowledged writes survive SIGKILL of the process
PERSISTENT = "persistent"  # data survives close() and open() of a new instance
MULTI_NODE = "multi_node"  # several processes may share the data safely
HEARTBEAT = "heartbeat"  # a silent node's claims are taken over (see the module rules)
FAILURES = "failures"  # keeps the failures list (see the module rules)
#: Its coroutines may be started outside an asyncio task: nothing they run before their
#: first suspension needs ``asyncio.current_task()`` (as ``asyncio.timeout`` does). A front
#: end may then run a call from the callback that received it, without a task per call.
INLINE = "inline"


class Store(abc.ABC):
    """Abstract store. Subclasses are built with ``factory(options)`` and must not do I/O
    before :meth:`open`."""

    #: What this store guarantees (see the module constants).
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: This process's node name in a shared store; single-node stores keep the default.
    node_id: str = "0"
    #: Stores with the ``heartbeat`` capability: seconds between two heartbeats of the
    #: engine, and how far ahead each one keeps the node alive. None: send none.
    heartbeat_interval: float | None = None
    node_lease: float = math.inf
    #: Stores with the ``failures`` capability: entries kept at most (``--failures-max``).
    failures_max: int = DEFAULT_FAILURES_MAX

    def __init__(self, options: Options | None = None) -> None:
        self.options = options
        limit = options.get("failures_max") if isinstance(options, Mapping) else None
        if limit:
            self.failures_max = int(limit)

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect or load data. Called once before any other method."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release everything. Acknowledged data must be kept."""

    @abc.abstractmethod
    async def put(self, plan: Plan) -> None:
        """Create or replace ``plan`` (its key is non-empty, ``next_time`` is set)."""

    async def put_many(self, plans: Iterable[Plan]) -> None:
        """Create or replace several plans; stores override this with a bulk path.

        Every plan is validated before any is written (with
        :func:`forsun.plan.validated_list`, which trusts a :class:`~forsun.plan.ValidatedPlans`
        from the service).
        """
        from ..plan import validated_list

        plans = validated_list(plans)
        for plan in plans:
            await self.put(plan)

    @abc.abstractmethod
    async def get(self, key: str) -> Plan:
        """The plan stored under ``key``; 1003 if there is none."""

    async def existing(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` have a plan stored. The default asks :meth:`get` for each
        (concurrently); a store that can answer in one round trip should."""

        async def held(key: str) -> bool:
            try:
                await self.get(key)
            except ForsunPlanError as exc:
                if exc.code == ErrorCode.NOT_FOUND:
                    return False
                raise
            return True

        found = await asyncio.gather(*map(held, keys))
        return {key for key, has in zip(keys, found, strict=True) if has}

    @abc.abstractmethod
    async def remove(self, key: str) -> Plan:
        """Delete and return the plan under ``key``; 1003 if there is none."""

    @abc.abstractmethod
    async def keys(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with ``prefix`` (literal)."""

    async def plan_pages(self, prefix: str = "", size: int = 1000
                         ) -> AsyncIterator[list[Plan]]:
        """Every plan whose key starts with ``prefix``, in key order, at most ``size`` per
        page (a plan removed meanwhile is left out). This default reads :meth:`keys`, then
        :meth:`get` per key; stores override it with a bulk read."""
        from ..errors import ErrorCode, ForsunPlanError

        keys = await self.keys(prefix)
        for start in range(0, len(keys), size):
            page = []
            for key in keys[start:start + size]:
                try:
                    page.append(await self.get(key))
                except ForsunPlanError as exc:
                    if exc.code != ErrorCode.NOT_FOUND:
                        raise
            yield page

    @abc.abstractmethod
    async def due(self, start: int, end: int) -> list[Plan]:
        """Plans with ``start <= next_time <= end`` in ``(next_time, key)`` order."""

    @abc.abstractmethod
    async def count(self) -> int:
        """Number of stored plans."""

    async def count_due(self, start: int, end: int) -> int:
        """``len(await self.due(start, end))``; stores override it with a count that
        decodes no plan (metrics and the overview call it on every scrape)."""
        return len(await self.due(start, end))

    @abc.abstractmethod
    async def claim(self, up_to: int, *, node: str, lease_until: float,
                    limit: int = 10_000) -> list[Plan]:
        """Atomically claim due and expired-lease occurrences (see the module rules)."""

    @abc.abstractmethod
    async def reschedule(self, claimed: Plan, successor: Plan | None) -> bool | None:
        """Put ``successor`` (or delete) if the stored plan is still ``claimed``; whether it
        was (None: not reported)."""

    async def reschedule_many(self, pairs: Sequence[tuple[Plan, Plan | None]]
                              ) -> list[bool | None] | None:
        """:meth:`reschedule` for each ``(claimed, successor)``, with its answers; stores
        override this with a bulk path (the engine calls it once per claimed batch)."""
        return [await self.reschedule(claimed, successor) for claimed, successor in pairs]

    @abc.abstractmethod
    async def ack(self, claimed: Plan) -> None:
        """The occurrence ``claimed.occurrence()`` is done; forget it."""

    async def ack_many(self, claimed: Sequence[Plan]) -> None:
        """:meth:`ack` for each plan; stores override this with a bulk path."""
        for plan in claimed:
            await self.ack(plan)

    @abc.abstractmethod
    async def extend_lease(self, claimed: Plan, lease_until: float) -> None:
        """Keep the in-flight occurrence leased until ``lease_until``."""

    @abc.abstractmethod
    async def release(self, node: str) -> None:
        """Make every in-flight occurrence of ``node`` claimable now."""

    async def heartbeat(self, node: str, alive_until: float) -> bool:
        """Register ``node`` as alive until ``alive_until``; False if it was not registered
        or its claims were taken over (capability ``heartbeat``; others keep this default)."""
        return True

    @abc.abstractmethod
    async def get_checkpoint(self) -> int | None:
        """The last fully processed second, or None before the first."""

    @abc.abstractmethod
    async def set_checkpoint(self, second: int) -> None:
        """Record ``second`` as processed (never moves the checkpoint backwards)."""

    async def nodes(self) -> list[NodeState] | None:
        """The nodes registered by heartbeats (see the module rules); None: not reported."""
        return None

    # -- failures (capability ``failures``) -----------------------------------------------

    def _no_failures(self) -> ForsunPlanError:
        return ForsunPlanError(ErrorCode.UNKNOWN, f"the store {type(self).__name__} keeps no "
                                                  "failures list (capability 'failures')")

    async def add_failure(self, failure: Failure) -> None:
        """Add ``failure`` (see the module rules)."""
        raise self._no_failures()

    async def list_failures(self, *, prefix: str = "", action: str = "", limit: int = 100,
                            offset: int = 0) -> FailurePage:
        """One page of the matching failures, newest first."""
        raise self._no_failures()

    async def get_failures(self, ids: Sequence[str] | None) -> list[Failure]:
        """The failures of ``ids`` that exist, in that order (None: all, newest first)."""
        raise self._no_failures()

    async def remove_failures(self, ids: Sequence[str] | None) -> int:
        """Remove the failures of ``ids`` (None: all); how many were there."""
        raise self._no_failures()


@attrs.frozen(slots=True)
class NodeState:
    """A node sharing the store: alive until ``alive_until`` (None: taken over), holding
    ``in_flight`` occurrences."""

    node: str
    alive_until: float | None
    in_flight: int
