"""Thrift RPC front end (DESIGN 3.2): the ``Forsun`` service of ``forsun.thrift`` over the
binary protocol and a buffered (not framed) transport, on ``--bind``:``--port``.

It runs on the service's asyncio loop; every connection is served by its own task, one
call at a time, in order. A malformed message closes only its connection. Handlers call
the :class:`forsun.service.Service` API and nothing else. With ``--token``, every call but
``ping`` must carry the token (:mod:`forsun.frontends.security`); a call without it is
refused with error 1001.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..errors import ErrorCode, ForsunPlanError
from ..frontend import Frontend
from ..hookspecs import hookimpl
from ..options import Option
from ..plan import Plan
from .security import (
    TOKEN_FIELD_ID,
    TOKEN_PARAM,
    check_token,
    token_accepted,
    warn_if_exposed,
)

if TYPE_CHECKING:
    from ..service import Service
    from .thrift_protocol import Call

log = logging.getLogger(__name__)

#: Seconds stop() lets calls in progress finish before their connections are dropped.
STOP_GRACE = 5.0
#: Pending connections the listening socket queues (bursts of clients connecting at once).
BACKLOG = 1024
#: Methods callable without the token.
OPEN_METHODS = frozenset({"ping"})

_I16 = (-(1 << 15), (1 << 15) - 1)
_I32 = (-(1 << 31), (1 << 31) - 1)


@hookimpl
def register_options(register):
    register(Option("bind", default="127.0.0.1", ini="bind_address", metavar="HOST",
                    help="Thrift RPC listen address"))
    register(Option("port", type=int, default=6458, ini="port",
                    help="Thrift RPC port (0: any free port)"))


@hookimpl
def register_frontends(register):
    register("thrift", ThriftFrontend)


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if low <= value <= high:  # the usual case, without three calls
        return value
    return max(low, min(high, int(value)))


def to_thrift_plan(plan: Plan) -> Any:
    """``plan`` as the IDL's ``ForsunPlan``. Values beyond the wire types are clamped:
    ``current_count`` of a forever plan outgrows i16, ``next_time`` may outgrow i32."""
    from ..idl import load_idl

    return load_idl().ForsunPlan(
        is_time_out=bool(plan.is_time_out), key=plan.key,
        second=_clamp(plan.second, _I16), minute=_clamp(plan.minute, _I16),
        hour=_clamp(plan.hour, _I16), day=_clamp(plan.day, _I16),
        month=_clamp(plan.month, _I16), week=_clamp(plan.week, _I16),
        next_time=_clamp(plan.next_time, _I32), status=_clamp(plan.status, _I16),
        count=_clamp(plan.count, _I16), current_count=_clamp(plan.current_count, _I16),
        last_timeout=_clamp(plan.last_timeout, _I32), action=plan.action,
        params=dict(plan.params))


class ThriftFrontend(Frontend):
    """Serves the Forsun Thrift service. thriftpy2 is imported at :meth:`start`, so
    listing plugins stays fast."""

    def __init__(self, service: Service) -> None:
        super().__init__(service)
        self.host = str(service.options.bind)
        self.port = int(service.options.port)
        self.token = str(service.options.token or "")
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def info(self) -> dict[str, str]:
        return {"bind_port": self.address}

    async def start(self) -> None:
        from ..idl import load_idl
        from . import thrift_protocol

        self._protocol = thrift_protocol
        self._idl = load_idl()
        self._methods: dict[str, Callable[[Any], Awaitable[Any]]] = {
            "ping": self._ping,
            "create": self._create,
            "createTimeout": self._create_timeout,
            "remove": self._remove,
            "get": self._get,
            "getCurrent": self._get_current,
            "getTime": self._get_time,
            "getKeys": self._get_keys,
            "info": self._info,
            "forsun_call": self._forsun_call,
        }
        check_token(self.token)
        self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                  backlog=BACKLOG)
        self.port = self._server.sockets[0].getsockname()[1]
        warn_if_exposed("--bind", self.host, self.token)

    async def stop(self) -> None:
        """Stop listening, drop idle connections, let calls in progress answer (up to
        :data:`STOP_GRACE` seconds), then drop the rest."""
        if self._server is None:
            return
        self._closing = True
        self._server.close()
        for task in self._connections - self._busy:
            task.cancel()
        pending = set(self._connections)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=STOP_GRACE)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    # -- connections -------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        stats = self.service.stats
        stats.inc("connecting_count")
        stats.inc("connected_count")
        peer = _peer(writer)
        calls = self._protocol.CallReader(reader)
        try:
            while not self._closing:
                try:
                    call = await calls.read_call(self._idl.Forsun)
                except self._protocol.MalformedMessage as exc:
                    log.info("thrift client %s: %s; closing its connection", peer, exc)
                    return
                if call is None:
                    return
                self._busy.add(task)
                try:
                    reply = await self._answer(call)
                    if reply is not None:
                        writer.write(reply)
                        await writer.drain()
                finally:
                    self._busy.discard(task)
        except ConnectionError:
            log.debug("thrift client %s went away", peer)
        except asyncio.CancelledError:
            # stop() cancels; ending normally keeps asyncio 3.11 from logging the
            # cancelled connection callback as an error.
            log.debug("thrift connection from %s dropped at stop", peer)
        except Exception:
            log.exception("thrift connection from %s failed", peer)
        finally:
            self._connections.discard(task)
            stats.dec("connecting_count")
            writer.close()

    async def _answer(self, call: Call) -> bytes | None:
        """Run one call; the encoded reply, or None for a oneway call."""
        protocol = self._protocol
        if call.args is None:
            return protocol.encode_exception(call.name, call.seqid, protocol.UNKNOWN_METHOD,
                                             f"unknown method {call.name!r}")
        stats = self.service.stats
        stats.inc("requesting_count")
        result = getattr(self._idl.Forsun, call.name + "_result")()
        failure: ForsunPlanError | None = None
        try:
            self._authorize(call)
            result.success = await self._methods[call.name](call.args)
        except ForsunPlanError as exc:
            failure = exc
        except Exception as exc:
            log.exception("thrift %s failed", call.name)
            failure = ForsunPlanError(ErrorCode.UNKNOWN, f"{call.name}: {exc}")
        finally:
            stats.dec("requesting_count")
            stats.inc("requested_count")
        if failure is not None:
            stats.inc("requested_error_count")
            if not hasattr(result, "err"):  # the method declares no exception
                return protocol.encode_exception(call.name, call.seqid, protocol.INTERNAL_ERROR,
                                                 str(failure))
            result.err = self._idl.ForsunPlanError(code=failure.code, message=failure.message)
        if call.oneway:
            return None
        try:
            return protocol.encode_reply(call.name, call.seqid, result)
        except (UnicodeEncodeError, OverflowError, TypeError) as exc:
            log.exception("thrift %s: the reply cannot be encoded", call.name)
            return protocol.encode_exception(call.name, call.seqid, protocol.INTERNAL_ERROR,
                                             f"the reply cannot be encoded: {exc}")

    def _authorize(self, call: Call) -> None:
        """Raise 1001 unless ``call`` may run; take the token param out of its params."""
        params = getattr(call.args, "params", None)
        param_token = params.pop(TOKEN_PARAM, None) if isinstance(params, dict) else None
        if call.name in OPEN_METHODS or not self.token:
            return
        given = call.token if call.token is not None else param_token
        if not token_accepted(self.token, given):
            reason = "a wrong token" if given is not None else "no token"
            log.info("thrift %s refused: %s", call.name, reason)
            raise ForsunPlanError(ErrorCode.UNKNOWN,
                                  f"{call.name}: {reason}; this server requires its --token "
                                  f"(argument field {TOKEN_FIELD_ID}, or params entry "
                                  f"{TOKEN_PARAM} of create/createTimeout)")

    # -- the methods of forsun.thrift ----------------------------------------------------

    async def _ping(self, args: Any) -> int:
        return 0

    async def _create(self, args: Any) -> Any:
        plan = Plan(key=args.key or "", second=args.second, minute=args.minute,
                    hour=args.hour, day=args.day, month=args.month, week=args.week,
                    is_time_out=False, action=args.action, params=dict(args.params or {}))
        return to_thrift_plan(await self.service.create(plan))

    async def _create_timeout(self, args: Any) -> Any:
        plan = Plan(key=args.key or "", second=args.second, minute=args.minute,
                    hour=args.hour, day=args.day, month=args.month, week=args.week,
                    is_time_out=True, count=args.count, action=args.action,
                    params=dict(args.params or {}))
        return to_thrift_plan(await self.service.create(plan))

    async def _remove(self, args: Any) -> Any:
        return to_thrift_plan(await self.service.remove(args.key or ""))

    async def _get(self, args: Any) -> Any:
        return to_thrift_plan(await self.service.get(args.key or ""))

    async def _get_current(self, args: Any) -> list[Any]:
        return [to_thrift_plan(plan) for plan in await self.service.current()]

    async def _get_time(self, args: Any) -> list[Any]:
        plans = await self.service.plans_at(args.timestamp or 0)
        return [to_thrift_plan(plan) for plan in plans]

    async def _get_keys(self, args: Any) -> list[str]:
        return list(await self.service.keys(args.prefix or ""))

    async def _info(self, args: Any) -> dict[str, str]:
        return {str(k): str(v) for k, v in (await self.service.info()).items()}

    async def _forsun_call(self, args: Any) -> None:
        log.info("forsun_call(%r, %s) ignored: forsund is not a thrift action target",
                 args.key, args.ts)


def _peer(writer: asyncio.StreamWriter) -> Any:
    """The client's address for messages; None when it cannot be had. (uvloop raises, where
    asyncio answers None, for a connection reset before it was accepted and closed before
    it was served.)"""
    try:
        return writer.get_extra_info("peername")
    except Exception:  # AttributeError inside uvloop; nothing to log it for
        return None
