"""Thrift RPC front end (DESIGN 3.2): the ``Forsun`` service of ``forsun.thrift`` over the
binary protocol and a buffered (not framed) transport, on ``--bind``:``--port``.

It runs on the service's asyncio loop; every connection is an :class:`asyncio.Protocol`
(:mod:`.thrift_connection`) that answers a call as soon as it has been received, one call
at a time, in order. A malformed message closes only its connection. Handlers call
the :class:`forsun.service.Service` API and nothing else. With ``--token``, every call but
``ping`` must carry the token (:mod:`forsun.frontends.security`); a call without it is
refused with error 1001.

Connections are bounded: at most ``--max-connections`` are open (at the cap, the one
that has waited longest on its client is closed to make room; with none waiting, the new
one is closed at once), one silent for ``--idle-timeout`` seconds is closed, and calls
being received hold at most ``--thrift-preauth-bytes`` each before their connection has
sent the token and ``--thrift-buffer-bytes`` beyond that across all connections
(:class:`~.thrift_protocol.Limits`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..errors import ErrorCode, ForsunPlanError
from ..hookspecs import hookimpl
from ..idl import TOKEN_FIELD_ID
from ..options import Option
from ..plan import Plan
from ..store.base import INLINE
from .acceptor import Acceptor, connection_limit, idle_timeout
from .base import Frontend
from .connections import Connections
from .security import TOKEN_PARAM, check_token, token_accepted, warn_if_exposed

if TYPE_CHECKING:
    from ..service import Service
    from .thrift_connection import ThriftConnection
    from .thrift_protocol import Call, CallReader, Limits

log = logging.getLogger(__name__)

#: Seconds stop() lets calls in progress finish before their connections are dropped.
STOP_GRACE = 5.0
#: Pending connections the listening socket queues (bursts of clients connecting at once).
BACKLOG = 1024
#: Methods callable without the token.
OPEN_METHODS = frozenset({"ping"})
#: Longest pause between two checks for connections silent beyond ``--idle-timeout``.
IDLE_CHECK = 5.0

_I16 = (-(1 << 15), (1 << 15) - 1)
_I32 = (-(1 << 31), (1 << 31) - 1)


@hookimpl
def register_options(register):
    register(Option("bind", default="127.0.0.1", ini="bind_address", metavar="HOST",
                    help="Thrift RPC listen address"))
    register(Option("port", type=int, default=6458, ini="port",
                    help="Thrift RPC port (0: any free port)"))
    register(Option("thrift-preauth-bytes", type=int, default=64 << 10,
                    ini="thrift_preauth_bytes", metavar="BYTES",
                    help="with --token: largest Thrift call a connection may send before "
                         "it has sent the token (unless the token field comes first); "
                         "also what any call holds outside --thrift-buffer-bytes"))
    register(Option("thrift-buffer-bytes", type=int, default=64 << 20,
                    ini="thrift_buffer_bytes", metavar="BYTES",
                    help="bytes of Thrift calls being received, beyond their first "
                         "--thrift-preauth-bytes, held at once across all connections; a "
                         "call needing more is refused and its connection closed"))


@hookimpl
def register_frontends(register):
    register("thrift", ThriftFrontend)


def _i16(value: int) -> int:
    if -32768 <= value <= 32767:  # the usual case, without three calls
        return value
    return max(_I16[0], min(_I16[1], int(value)))


def _i32(value: int) -> int:
    if -2147483648 <= value <= 2147483647:
        return value
    return max(_I32[0], min(_I32[1], int(value)))


def to_thrift_plan(plan: Plan) -> Any:
    """``plan`` as the IDL's ``ForsunPlan``. Values beyond the wire types are clamped:
    ``current_count`` of a forever plan outgrows i16, ``next_time`` may outgrow i32."""
    wire_class, as_is, converted = _wire_fields()
    wire = wire_class.__new__(wire_class)  # every field is set: no __init__ defaults needed
    fields = wire.__dict__
    for name in as_is:
        fields[name] = getattr(plan, name)
    for name, convert in converted:
        fields[name] = convert(getattr(plan, name))
    return wire


@functools.cache
def _wire_fields() -> tuple[type, tuple[str, ...], tuple[tuple[str, Callable[[Any], Any]], ...]]:
    """The IDL's ``ForsunPlan``, the names of its fields taken as they are, and ``(name,
    conversion to its wire type)`` of the others."""
    from thriftpy2.thrift import TType

    from ..idl import load_idl

    conversions: dict[int, Callable[[Any], Any]] = {
        TType.BOOL: bool, TType.MAP: dict, TType.I16: _i16, TType.I32: _i32}
    wire_class = load_idl().ForsunPlan
    spec = [(ttype, name) for ttype, name, *_ in wire_class.thrift_spec.values()]
    return (wire_class, tuple(name for ttype, name in spec if ttype not in conversions),
            tuple((name, conversions[ttype]) for ttype, name in spec if ttype in conversions))


class ThriftFrontend(Frontend):
    """Serves the Forsun Thrift service. thriftpy2 is imported at :meth:`start`, so
    listing plugins stays fast."""

    def __init__(self, service: Service) -> None:
        super().__init__(service)
        self.host = str(service.options.bind)
        self.port = int(service.options.port)
        self.token = str(service.options.token or "")
        self.max_connections = 0
        self._acceptor: Acceptor | None = None
        self._idle_closer: asyncio.Task[None] | None = None
        self._connections: Connections[ThriftConnection] = Connections()
        self._closing = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def info(self) -> dict[str, str]:
        return {"bind_port": self.address, "max_connections": str(self.max_connections)}

    async def start(self) -> None:
        from ..idl import load_idl
        from . import thrift_protocol
        from .thrift_connection import ThriftConnection

        self._protocol = thrift_protocol
        self._connection_class = ThriftConnection
        #: Calls may run in the callback that received them (see :mod:`.thrift_connection`).
        self.inline = INLINE in self.service.store.capabilities
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
        options = self.service.options
        self.max_connections = connection_limit(int(options.max_connections))
        self.idle_timeout = idle_timeout(float(options.idle_timeout))
        self._limits = thrift_protocol.Limits(
            free_bytes=int(options.thrift_preauth_bytes),
            budget=thrift_protocol.ByteBudget(int(options.thrift_buffer_bytes)),
            token=self.token)
        _check_limits(self._limits)
        self._acceptor = Acceptor(_listen(self.host, self.port), self._accepted, flag="--port")
        self.port = self._acceptor.sockets[0].getsockname()[1]
        self._acceptor.start()
        self._idle_closer = asyncio.create_task(self._close_idle())
        warn_if_exposed("--bind", self.host, self.token)

    async def stop(self) -> None:
        """Stop listening, drop idle connections, let calls in progress answer (up to
        :data:`STOP_GRACE` seconds), then drop the rest."""
        if self._acceptor is None:
            return
        self._closing = True
        self._acceptor.close()
        self._acceptor = None
        if self._idle_closer is not None:
            self._idle_closer.cancel()
            await asyncio.gather(self._idle_closer, return_exceptions=True)
        for connection in list(self._connections.open):
            if not connection.busy:
                connection.close()
        deadline = time.monotonic() + STOP_GRACE
        while self._connections.open and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # a busy one closes once its reply is written
        running = []
        for connection in list(self._connections.open):
            if connection.running is not None:
                running.append(connection.running)
            connection.close(abort=True)
        await asyncio.gather(*running, return_exceptions=True)

    # -- connections -------------------------------------------------------------------

    def _accepted(self, conn: socket.socket, peer: Any) -> None:
        """Serve a new connection, making room at the cap (see the module docstring)."""
        stats = self.service.stats
        if len(self._connections) >= self.max_connections:
            if not self._connections.drop_longest_waiting():
                conn.close()
                stats.inc("connection_refused_count")
                log.warning("--port: %d connections are open and busy (--max-connections); "
                            "closing new connections at once", self.max_connections)
                return
            stats.inc("connection_evicted_count")
            log.warning("--port: %d connections are open (--max-connections); closing the "
                        "one that waited longest on its client for each new one",
                        self.max_connections)
        connection = self._connection_class(self, peer)
        self._connections.add(connection)
        stats.inc("connecting_count")
        stats.inc("connected_count")
        connection.start(conn)

    async def _close_idle(self) -> None:
        """Close the connections silent for ``--idle-timeout`` seconds, checking often
        enough to be at most a tenth (or :data:`IDLE_CHECK` seconds) late."""
        pause = min(self.idle_timeout / 10, IDLE_CHECK)
        while True:
            await asyncio.sleep(pause)
            closed = self._connections.drop_waiting_since(time.monotonic() - self.idle_timeout)
            if closed:
                self.service.stats.inc("connection_idle_closed_count", closed)
                log.debug("closed %d thrift connections idle for %g s", closed,
                          self.idle_timeout)

    async def _answer(self, call: Call, calls: CallReader) -> bytes | None:
        """Run one call; the encoded reply, or None for a oneway call."""
        protocol = self._protocol
        if call.args is None:
            return protocol.encode_exception(call.name, call.seqid, protocol.UNKNOWN_METHOD,
                                             f"unknown method {call.name!r}")
        stats = self.service.stats
        stats.inc("requesting_count")
        result = _result_class(self._idl.Forsun, call.name)()
        failure: ForsunPlanError | None = None
        try:
            if self._authorize(call):
                calls.authenticated = True
            result.success = await self._methods[call.name](call.args)
        except ForsunPlanError as exc:
            failure = exc
        except Exception as exc:
            log.exception("thrift %s failed", call.name)
            failure = ForsunPlanError(ErrorCode.UNKNOWN, f"{call.name}: {exc}")
        finally:
            stats.dec("requesting_count")
            stats.inc("requested_count")
        if self.service.metrics is not None:
            self.service.metrics.request("thrift", call.name, failure is None)
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

    def _authorize(self, call: Call) -> bool:
        """Raise 1001 unless ``call`` may run; take the token param out of its params.
        True when the call carries the server's token (or the server has none)."""
        params = getattr(call.args, "params", None)
        param_token = params.pop(TOKEN_PARAM, None) if isinstance(params, dict) else None
        if not self.token:
            return True
        given = call.token if call.token is not None else param_token
        accepted = token_accepted(self.token, given)
        if not accepted and call.name not in OPEN_METHODS:
            reason = "a wrong token" if given is not None else "no token"
            log.info("thrift %s refused: %s", call.name, reason)
            raise ForsunPlanError(ErrorCode.UNKNOWN,
                                  f"{call.name}: {reason}; this server requires its --token "
                                  f"(argument field {TOKEN_FIELD_ID}, or params entry "
                                  f"{TOKEN_PARAM} of create/createTimeout)")
        return accepted

    # -- the methods of forsun.thrift ----------------------------------------------------

    async def _ping(self, args: Any) -> int:
        return 0

    async def _create(self, args: Any) -> Any:
        plan = Plan(key=args.key or "", second=args.second, minute=args.minute,
                    hour=args.hour, day=args.day, month=args.month, week=args.week,
                    is_time_out=False, action=args.action, params=dict(args.params or {}))
        return to_thrift_plan(await self.service.create(plan, owned=True))

    async def _create_timeout(self, args: Any) -> Any:
        plan = Plan(key=args.key or "", second=args.second, minute=args.minute,
                    hour=args.hour, day=args.day, month=args.month, week=args.week,
                    is_time_out=True, count=args.count, action=args.action,
                    params=dict(args.params or {}))
        return to_thrift_plan(await self.service.create(plan, owned=True))

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


@functools.cache
def _result_class(service: type, name: str) -> type:
    return getattr(service, name + "_result")


def _listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for ``host:port`` (host "": every interface); OSError naming
    ``--port`` when they cannot be had."""
    import tornado.netutil

    try:
        return tornado.netutil.bind_sockets(port, host or None, backlog=BACKLOG)
    except OSError as exc:
        raise OSError(exc.errno, f"--bind {host} --port {port}: {exc.strerror}") from exc


def _check_limits(limits: Limits) -> None:
    """ValueError naming the option whose value cannot work."""
    from .thrift_protocol import MAX_MESSAGE_BYTES

    if not 0 < limits.free_bytes <= MAX_MESSAGE_BYTES:
        raise ValueError(f"--thrift-preauth-bytes {limits.free_bytes}: must be 1 to "
                         f"{MAX_MESSAGE_BYTES} (the largest call)")
    if limits.budget.available < 0:
        raise ValueError(f"--thrift-buffer-bytes {limits.budget.available}: must be 0 or more")
