"""The running service: wires store, actions, engine and front ends, and is the API that
front ends call (create, get, remove, keys, plans_at, info, ...)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import inspect
import logging
import math
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from typing import Any

import pluggy
import psutil

from . import __version__, schedule
from .action.base import Action
from .clock import WALL_CLOCK, Clock
from .engine import Engine, EngineSettings
from .errors import ErrorCode, ForsunPlanError
from .frontends.base import Frontend
from .insight import Insight
from .metrics import Metrics
from .options import Options
from .outcomes import DEFAULT_HISTORY_SIZE, History, Outcome, OutcomeSink
from .pacing import Pacer, steps
from .plan import STATUS_WAITING, Plan, ValidatedPlans, evolved, validate_plan
from .plugins import (
    DEFAULT_PLUGINS,
    collect_actions,
    collect_frontends,
    collect_stores,
    distribution_of,
)
from .stats import Stats
from .store.base import Store

log = logging.getLogger(__name__)

#: Plans per store call of :meth:`Service.create_many`: about 4 ms of the mem store's work
#: on the bench machine, and what the redis store writes with one script call.
STORE_STEP = 1000


def fires(server_mode: str) -> bool:
    """Whether a node in ``server_mode`` fires plans: TIMER (any case) or empty, as the
    original read its SERVER_MODE; any other mode serves the API alone."""
    return server_mode.strip().upper() in ("", "TIMER")


def _plans_label(index: int) -> str:
    return f"plans[{index}]"


class Service:
    """One forsun service. ``await start()`` opens the store, runs the startup hooks,
    starts the engine and then the front ends; ``await stop()`` undoes it in reverse.
    ``clock`` is the time it runs on (tests give a virtual one)."""

    def __init__(self, options: Options, pm: pluggy.PluginManager, *,
                 clock: Clock = WALL_CLOCK) -> None:
        self.options = options
        self.pm = pm
        #: Wall time, unix seconds.
        self.clock = clock.now
        self.tz = schedule.get_zone(options.timezone)
        self.stats = Stats()
        self.start_time = datetime.now().astimezone()
        self.store_registry = collect_stores(pm)
        self.action_registry = collect_actions(pm)
        self.frontend_registry = collect_frontends(pm)
        driver = options.driver
        if driver not in self.store_registry:
            known = ", ".join(self.store_registry.names()) or "none"
            raise ForsunPlanError(ErrorCode.UNKNOWN,
                                  f"--driver {driver!r}: no such store (installed: {known}); "
                                  f"install the distribution forsun-store-{driver}")
        self.store: Store = self.store_registry[driver].factory(options)
        self.node_id = options.node_id or self.store.node_id
        self.history = History(int(options.get("history_size", DEFAULT_HISTORY_SIZE)))
        self.metrics = Metrics(self.stats) if options.get("metrics", True) else None
        if self.metrics is not None:
            self.metrics.instrument(self.store)
        self._actions: dict[str, Action] = {}
        self.frontends: list[Frontend] = []
        #: Long jobs (bulk creations) take turns with everything else on the event loop.
        self.pacer = Pacer()
        self.engine = Engine(self.store, self.action, stats=self.stats,
                             settings=EngineSettings.from_options(options),
                             node_id=self.node_id, tz=self.tz, clock=clock,
                             hold_bulk_work=self.pacer.hold, on_outcome=self._outcome_sink())
        #: The operator's view: overview, history, failures, fire now (front ends call it).
        self.insight = Insight(self)
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=options.action_threads, thread_name_prefix="forsun-action")
        #: False for a node that serves the API and fires nothing (``--server-mode`` other
        #: than TIMER, as the original's SERVER_MODE): its engine never starts, so it
        #: claims, checkpoints and heartbeats nothing in a store shared with firing nodes.
        self.fires = fires(options.server_mode)

    def _outcome_sink(self) -> OutcomeSink | None:
        """Where the engine reports outcomes: the history ring and the metrics."""
        add = self.history.add
        if self.metrics is None:
            return add
        observe = self.metrics.observe

        def sink(outcome: Outcome) -> None:
            add(outcome)
            observe(outcome)

        return sink

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        asyncio.get_running_loop().set_default_executor(self.executor)
        await self.store.open()
        await _call_hook(self.pm.hook.forsun_startup, service=self)
        if self.fires:
            await self.engine.start()
        else:
            log.info("server mode %s: this node serves the API and fires no plan",
                     self.options.server_mode)
        for name, entry in self.frontend_registry.entries.items():
            frontend = entry.factory(self)
            if frontend.enabled:
                await frontend.start()
                log.info("front end %s listening on %s", name, frontend.address)
                self.frontends.append(frontend)

    async def stop(self) -> None:
        for frontend in reversed(self.frontends):
            try:
                await frontend.stop()
            except Exception:
                log.exception("stopping front end %r failed", frontend)
        self.frontends.clear()
        if self.fires:
            await self.engine.stop()
        await _call_hook(self.pm.hook.forsun_shutdown, service=self, raise_errors=False)
        for name, action in self._actions.items():
            try:
                await action.close()
            except Exception:
                log.exception("closing action %s failed", name)
        self._actions.clear()
        await self.store.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- actions -----------------------------------------------------------------------

    def action(self, name: str) -> Action:
        """The action registered as ``name`` (built on first use); 1006 if unknown."""
        action = self._actions.get(name)
        if action is None:
            if name not in self.action_registry:
                known = ", ".join(self.action_registry.names())
                raise ForsunPlanError(ErrorCode.UNKNOWN_ACTION,
                                      f"action {name!r} is not registered (known: {known})")
            action = self._actions[name] = self.action_registry[name].factory(self.options)
            action.name = name
        return action

    # -- the API front ends call ---------------------------------------------------------

    def prepare(self, plan: Plan, now: float | None = None, *, owned: bool = False,
                keep_state: bool = False) -> Plan:
        """Validate a plan a client asked for and fill key, times and status: a new plan,
        or ``plan`` itself when the caller ``owned`` it (built it for this call alone).
        ``keep_state``: the plan is restored as exported, with its ``next_time`` (required),
        ``current_count``, ``last_timeout`` and ``created_time`` (status: waiting).

        Raises 1006 for an unknown action, 1007 for missing params, 1002 when the time will
        never arrive, 1004 for invalid fields.
        """
        now = self.clock() if now is None else now
        action = "shell" if plan.action in ("sh", "bash") else plan.action
        if not owned:
            plan = evolved(plan, params=dict(plan.params or {}))
        plan.key = plan.key or uuid.uuid4().hex
        plan.action = action
        plan.count = plan.count or 0
        plan.status = STATUS_WAITING
        if plan.params is None:
            plan.params = {}
        if keep_state:
            if not plan.next_time:
                raise ForsunPlanError.missing("next_time")
        else:
            plan.current_count = plan.next_time = plan.last_timeout = 0
            plan.created_time = now
        self.action(plan.action).validate(plan.params)
        validate_plan(plan)
        if not keep_state:
            plan.next_time = schedule.first_due(plan, now, self.tz)
        return plan

    async def create(self, plan: Plan, *, owned: bool = False) -> Plan:
        """Create (or replace, by key) one plan and return it as stored. ``owned``: see
        :meth:`prepare`."""
        plan = self.prepare(plan, owned=owned)
        await self._store_call(self.store.put(plan))
        self.stats.inc("create_timeouted_count" if plan.is_time_out else "created_count")
        log.debug("created %s next_time %s", plan.key, plan.next_time)
        return plan

    async def create_many(self, plans: Iterable[Plan], *, owned: bool = False,
                          label: Callable[[int], str] = _plans_label,
                          keep_state: bool = False) -> list[Plan]:
        """Create several plans at once, as a job of :attr:`pacer` (firing and other
        requests are served between its slices): all are validated before any is stored,
        then they are stored in order, :data:`STORE_STEP` per store call.

        An error names the plan by ``label(index)`` (``plans[index]``). Until it returns,
        readers see the plans stored so far, and a concurrent write of one of the keys is
        replaced by the batch's, or replaces it, in the order the two were applied. When
        storing fails part way the error (1004) says so: the plans before the one it names
        are stored, it and the rest are not (or, with a store whose ``put_many`` can fail
        half way, not all). ``owned``, ``keep_state``: see :meth:`prepare` (plans are
        prepared in place).
        """
        now = self.clock()
        prepared = ValidatedPlans()  # prepare() validates each: the store need not again
        append, prepare = prepared.append, self.prepare
        async with self.pacer.job() as job:
            for part in steps(plans):
                for plan in part:
                    try:
                        append(prepare(plan, now, owned=owned, keep_state=keep_state))
                    except ForsunPlanError as exc:
                        raise ForsunPlanError(exc.code, f"{label(len(prepared))}: "
                                                        f"{exc.message}") from exc
                await job.pause()
            for start in range(0, len(prepared), STORE_STEP):
                part = ValidatedPlans(prepared[start:start + STORE_STEP])
                try:
                    await self._store_call(self.store.put_many(part))
                except ForsunPlanError as exc:
                    if not start:
                        raise
                    raise ForsunPlanError(exc.code, (
                        f"{exc.message}; {label(start)} and the plans after it were not "
                        f"stored, the {start} before it were: send those again")) from exc
                await job.pause()
        delays = sum(1 for plan in prepared if plan.is_time_out)
        self.stats.inc("create_timeouted_count", delays)
        self.stats.inc("created_count", len(prepared) - delays)
        return prepared

    async def get(self, key: str) -> Plan:
        """The stored plan (as claimed, while an occurrence of it is claimed and not yet
        rescheduled); 1003 if there is none."""
        return await self.store.get(key)

    async def remove(self, key: str) -> Plan:
        """Remove a plan (an occurrence claimed ahead of its due second then never fires);
        1003 if there is none."""
        try:
            plan = await self.store.remove(key)
        except ForsunPlanError:
            raise
        except Exception as exc:
            log.exception("removing %r failed", key)
            raise ForsunPlanError(ErrorCode.REMOVE_FAILED, f"removing {key!r}: {exc}") from exc
        self.stats.inc("removed_count")
        return plan

    async def keys(self, prefix: str = "") -> list[str]:
        """The keys starting with ``prefix``, sorted. As in the original, trailing blanks and
        ``*`` are no part of the prefix, so ``*`` (the original CLI's ``ls *``) lists every
        key."""
        return await self.store.keys((prefix or "").rstrip("\n\t *"))

    def plan_pages(self, prefix: str = "", size: int = 1000) -> AsyncIterator[list[Plan]]:
        """Every plan whose key starts with ``prefix``, a page at a time (export)."""
        return self.store.plan_pages(prefix, size)

    async def plans_at(self, timestamp: int = 0) -> list[Plan]:
        """Plans due at ``timestamp`` (0: the current second)."""
        second = int(timestamp) or math.floor(self.clock())
        return await self.store.due(second, second)

    async def current(self) -> list[Plan]:
        return await self.plans_at(0)

    async def info(self) -> dict[str, str]:
        """The figures of ``forsun info`` (every key the original printed, and more)."""
        process = psutil.Process(os.getpid())
        cpu = process.cpu_times()
        memory = process.memory_info()
        info = {
            "python_version": sys.version.split()[0],
            "forsun_version": __version__,
            "start_time": self.start_time.isoformat(timespec="seconds"),
            "uptime": str(int(time.time() - self.start_time.timestamp())),
            "cpu_user": f"{cpu.user:.3f}",
            "cpu_system": f"{cpu.system:.3f}",
            "mem_rss": str(memory.rss),
            "mem_vms": str(memory.vms),
            "gc_frozen_objects": str(gc.get_freeze_count()),
            "gc_full_collections": str(gc.get_stats()[2]["collections"]),
            "current_time": str(int(self.clock())),
            "timezone": str(self.options.timezone),
            "stores": ";".join(self.store_registry.names()),
            "current_store": self.options.driver,
            "actions": ";".join(self.action_registry.names()),
            "extensions": ";".join(self.options.extension or []),
            "frontends": ";".join(self.frontend_registry.names()),
            "bind_port": "",
            "http_bind_port": "",
            "node_id": self.node_id,
            "plan_count": str(await self.store.count()),
        }
        for kind, registry in (("store", self.store_registry), ("action", self.action_registry),
                               ("frontend", self.frontend_registry)):
            info[f"{kind}_plugins"] = ";".join(
                f"{name}={self._provenance(entry.plugin)}"
                for name, entry in sorted(registry.entries.items()))
        for frontend in self.frontends:
            info.update(frontend.info())
        info.update(self.stats.as_info())
        for extra in self.pm.hook.forsun_info(service=self):
            for key, value in (extra or {}).items():
                info.setdefault(str(key), str(value))
        return info

    def _provenance(self, plugin_name: str) -> str:
        """``distribution version`` of a loaded plugin (the plugin name when it has none)."""
        plugin = self.pm.get_plugin(plugin_name)
        dist = distribution_of(self.pm, plugin) if plugin is not None else None
        if dist is not None:
            return f"{dist[0]} {dist[1]}"
        return f"forsun {__version__}" if plugin_name in DEFAULT_PLUGINS else plugin_name

    async def _store_call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except ForsunPlanError:
            raise
        except Exception as exc:
            log.exception("store write failed")
            raise ForsunPlanError(ErrorCode.STORE_FAILED, f"storing the plan failed: {exc}") \
                from exc


async def _call_hook(hook: Any, raise_errors: bool = True, **kwargs: Any) -> None:
    for impl in hook.get_hookimpls():
        try:
            result = impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            if inspect.isawaitable(result):
                await result
        except Exception:
            if raise_errors:
                raise
            log.exception("%s of plugin %s failed", hook.name, impl.plugin_name)
