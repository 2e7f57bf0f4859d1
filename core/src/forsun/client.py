"""forsun's Python client: :class:`Client` (blocking, thread-safe) and :class:`AsyncClient`
(asyncio) speak the Thrift RPC of ``forsun.thrift`` (binary protocol, buffered transport)
to ``forsund``.

Both keep a small pool of connections. A call borrows one; an idle connection the server
has closed meanwhile (a restart, its ``--idle-timeout``) is replaced before it is used. A
connection that fails during a call is discarded and the call raises
:class:`ConnectionError`; it is not resent, because a create with an empty key is not
idempotent. A refusal by the server raises :class:`forsun.errors.ForsunPlanError` with the
server's code (1001 for a server-side failure outside the protocol's codes); an argument
the protocol cannot carry (a number beyond its field's type) raises 1004 naming the field.
Plans come back as :class:`forsun.plan.Plan` (``created_time`` is not part of the RPC and
stays 0)::

    with Client("127.0.0.1", 6458) as client:
        plan = client.create_timeout("order:1", 30, action="http",
                                     params={"url": "http://shop/timeout?order=1"})

The operator's calls that the Thrift IDL lacks (failures, retry, discard, history, fire
now, overview, metrics) go over the HTTP API: :class:`HttpClient`
(:mod:`forsun.http_client`). So do moving every plan out of and into a running server,
:func:`export_plans` and :func:`import_plans` (from :mod:`forsun.transfer`, re-exported
here; what ``forsun export`` / ``forsun import`` use).

A server started with ``--token`` needs ``Client(..., token=TOKEN)``: every call then
carries the token in the reserved argument field :data:`forsun.idl.TOKEN_FIELD_ID`
(a server without a token, or the original forsun, ignores that field).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import select
import threading
import types
from collections.abc import Mapping
from typing import Any

import attrs

from .errors import ErrorCode, ForsunPlanError
from .http_client import HttpClient, HttpUnreachable
from .idl import TOKEN_FIELD_ID, load_idl
from .plan import Plan
from .transfer import export_plans, import_plans

__all__ = ["DEFAULT_PORT", "AsyncClient", "Client", "HttpClient", "HttpUnreachable",
           "export_plans", "import_plans"]

#: forsund's default Thrift port.
DEFAULT_PORT = 6458


#: Attribute of the arguments structs that holds the token.
_TOKEN_ATTR = "forsun_token"


@functools.lru_cache(maxsize=16)
def _service(token: str) -> Any:
    """The ``Forsun`` service as thriftpy2's clients use it. With a token, every method's
    arguments struct also writes the token as string field :data:`TOKEN_FIELD_ID`, ahead
    of the other arguments (thriftpy2 writes fields in the order of ``thrift_spec``): a
    server then knows a large call is authenticated before it has buffered it."""
    service = load_idl().Forsun
    if not token:
        return service
    from thriftpy2.thrift import TType

    members: dict[str, Any] = {"__name__": service.__name__,
                               "thrift_services": service.thrift_services}
    for name in service.thrift_services:
        args = getattr(service, name + "_args")
        spec = {TOKEN_FIELD_ID: (TType.STRING, _TOKEN_ATTR, False), **args.thrift_spec}
        members[name + "_args"] = type(args.__name__, (args,),
                                       {"thrift_spec": spec, _TOKEN_ATTR: token})
        members[name + "_result"] = getattr(service, name + "_result")
    return types.SimpleNamespace(**members)


@functools.cache
def _argument_names(method: str) -> tuple[str, ...]:
    """The IDL's argument names of ``method`` in declaration order."""
    spec = getattr(load_idl().Forsun, method + "_args").thrift_spec
    return tuple(field[1] for field in spec.values())


def _by_name(method: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """``method``'s positional ``args`` by name: thriftpy2 maps positional arguments in
    ``thrift_spec`` order, which puts the token first (see :func:`_service`)."""
    return dict(zip(_argument_names(method), args, strict=False))


def _to_plan(wire: Any) -> Plan:
    """The IDL's ``ForsunPlan`` (every field of :class:`Plan` but ``created_time``)."""
    plan = Plan.from_dict(vars(wire))
    plan.is_time_out = bool(plan.is_time_out)
    plan.params = dict(plan.params or {})
    return plan


def _server_error(exc: Exception) -> ForsunPlanError:
    """The server's refusal (the IDL's ForsunPlanError, or a TApplicationException for a
    failure outside the declared exceptions) as :class:`ForsunPlanError`."""
    code = getattr(exc, "code", None)
    if code is not None:
        return ForsunPlanError(code, exc.message or f"error {code}")
    return ForsunPlanError(ErrorCode.UNKNOWN, getattr(exc, "message", None) or str(exc))


def _refusals() -> tuple[type[Exception], ...]:
    """Exceptions raised after a complete reply was read: the connection is still usable."""
    from thriftpy2.thrift import TApplicationException

    return (load_idl().ForsunPlanError, TApplicationException)


def _argument_errors() -> tuple[type[Exception], ...]:
    """Exceptions thriftpy2 raises while encoding arguments the protocol cannot carry (a
    number beyond its field's type, text that UTF-8 cannot encode)."""
    from thriftpy2.thrift import TDecodeException

    return (TDecodeException, UnicodeEncodeError, OverflowError)


def _bad_argument(method: str, exc: Exception) -> ForsunPlanError:
    """An argument that cannot be sent, as the 1004 the server gives for a bad field."""
    field = getattr(exc, "field", None)
    if field is not None:
        shown = repr(getattr(exc, "value", None))
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return ForsunPlanError.invalid(field, f"{shown} does not fit the protocol's "
                                              f"{exc.type_repr}")
    return ForsunPlanError.invalid(method, f"an argument cannot be sent: {exc}")


def _transport_failures() -> tuple[type[Exception], ...]:
    from thriftpy2.protocol.exc import TProtocolException
    from thriftpy2.transport import TTransportException

    return (TTransportException, TProtocolException, OSError, EOFError)


def _call_failure(address: str, method: str, exc: BaseException) -> BaseException:
    """What a call cut short by ``exc`` raises: 1004 for an argument the wire types cannot
    carry, ConnectionError (caused by ``exc``) for a transport failure, else ``exc``."""
    if isinstance(exc, _argument_errors()):
        error: BaseException = _bad_argument(method, exc)
        error.__suppress_context__ = True
        return error
    if isinstance(exc, _transport_failures()):
        error = ConnectionError(f"forsund {address}: {method} failed: {exc}")
        error.__cause__ = exc
        return error
    return exc


def _dropped(sock: Any) -> bool:
    """True when an idle connection's socket is readable: the server closed it (nothing
    else can arrive on a connection with no call in flight)."""
    if sock is None or sock.fileno() < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


@attrs.define
class _Connection:
    """One open connection: the thriftpy2 client and its socket object."""

    client: Any
    socket: Any


class Client:
    """A blocking client; safe to share between threads (up to ``max_connections`` calls
    run at once, further calls wait). ``timeout`` (seconds) bounds connecting and each
    read or write. ``token``: the server's ``--token``, if it has one."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                 timeout: float = 10.0, max_connections: int = 4, token: str = "") -> None:
        self.host = host
        self.port = int(port)
        self.timeout = timeout
        self._token = token
        self._idle: collections.deque[_Connection] = collections.deque()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection; calls after this raise ConnectionError."""
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle), collections.deque()
        for conn in idle:
            conn.client.close()

    def _open(self) -> _Connection:
        from thriftpy2.protocol import TBinaryProtocol
        from thriftpy2.thrift import TClient
        from thriftpy2.transport import TBufferedTransport, TSocket

        millis = int(self.timeout * 1000)
        sock = TSocket(self.host, self.port, socket_timeout=millis, connect_timeout=millis)
        transport = TBufferedTransport(sock)
        transport.open()
        return _Connection(TClient(_service(self._token), TBinaryProtocol(transport)), sock)

    def _checkout(self) -> _Connection:
        with self._lock:
            if self._closed:
                raise ConnectionError("the client is closed")
            while self._idle:
                conn = self._idle.pop()
                if not _dropped(conn.socket.sock):
                    return conn
                conn.client.close()
        return self._open()

    def _checkin(self, conn: _Connection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.client.close()

    def _call(self, method: str, *args: Any) -> Any:
        with self._slots:
            try:
                conn = self._checkout()
            except _transport_failures() as exc:
                raise ConnectionError(f"forsund {self.host}:{self.port}: {exc}") from exc
            try:
                result = getattr(conn.client, method)(**_by_name(method, args))
            except _refusals() as exc:
                self._checkin(conn)
                raise _server_error(exc) from None
            except BaseException as exc:
                conn.client.close()  # a call cut short may have left bytes unsent
                raise _call_failure(f"{self.host}:{self.port}", method, exc)  # noqa: B904 - it sets the cause
            self._checkin(conn)
            return result

    def ping(self) -> int:
        """0 when the server is up."""
        return self._call("ping")

    def create(self, key: str, second: int, minute: int = -1, hour: int = -1, day: int = -1,
               month: int = -1, week: int = -1, action: str = "shell",
               params: Mapping[str, str] | None = None) -> Plan:
        """Create (or replace) a fixed-time plan: each field an exact value or -1 for any."""
        return _to_plan(self._call("create", key, second, minute, hour, day, month, week,
                                   action, dict(params or {})))

    def create_timeout(self, key: str, second: int, minute: int = -1, hour: int = -1,
                       day: int = -1, month: int = -1, week: int = -1, count: int = 1,
                       action: str = "shell", params: Mapping[str, str] | None = None) -> Plan:
        """Create (or replace) a delay plan firing every interval, ``count`` times
        (0: forever)."""
        return _to_plan(self._call("createTimeout", key, second, minute, hour, day, month,
                                   week, count, action, dict(params or {})))

    def get(self, key: str) -> Plan:
        """The plan with its current status; 1003 when there is none."""
        return _to_plan(self._call("get", key))

    def remove(self, key: str) -> Plan:
        """Remove a plan and return it; 1003 when there is none."""
        return _to_plan(self._call("remove", key))

    def get_keys(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix``, sorted."""
        return list(self._call("getKeys", prefix))

    def get_time(self, timestamp: int = 0) -> list[Plan]:
        """Plans due at unix second ``timestamp`` (0: now)."""
        return [_to_plan(plan) for plan in self._call("getTime", timestamp)]

    def get_current(self) -> list[Plan]:
        """Plans due at the server's current second."""
        return [_to_plan(plan) for plan in self._call("getCurrent")]

    def info(self) -> dict[str, str]:
        """The server's figures (``forsun info``)."""
        return dict(self._call("info"))


class AsyncClient:
    """The asyncio client; use it from one event loop. Up to ``max_connections`` calls run
    at once, further calls wait. ``timeout`` (seconds) bounds connecting and each read or
    write. ``token``: the server's ``--token``, if it has one."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                 timeout: float = 10.0, max_connections: int = 4, token: str = "") -> None:
        self.host = host
        self.port = int(port)
        self.timeout = timeout
        self._token = token
        self._idle: collections.deque[_Connection] = collections.deque()
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every pooled connection; calls after this raise ConnectionError."""
        self._closed = True
        while self._idle:
            self._idle.pop().client.close()

    async def _open(self) -> _Connection:
        from thriftpy2.contrib.aio.client import TAsyncClient
        from thriftpy2.contrib.aio.protocol.binary import TAsyncBinaryProtocol
        from thriftpy2.contrib.aio.socket import TAsyncSocket
        from thriftpy2.contrib.aio.transport.buffered import TAsyncBufferedTransport

        millis = int(self.timeout * 1000)
        sock = TAsyncSocket(self.host, self.port, socket_timeout=millis,
                            connect_timeout=millis)
        transport = TAsyncBufferedTransport(sock)
        await transport.open()
        return _Connection(TAsyncClient(_service(self._token), TAsyncBinaryProtocol(transport)),
                           sock)

    async def _checkout(self) -> _Connection:
        if self._closed:
            raise ConnectionError("the client is closed")
        while self._idle:
            conn = self._idle.pop()
            if not (conn.socket.writer.is_closing() or _dropped(conn.socket.raw_sock)):
                return conn
            conn.client.close()
        return await self._open()

    def _checkin(self, conn: _Connection) -> None:
        if self._closed:
            conn.client.close()
        else:
            self._idle.append(conn)

    async def _call(self, method: str, *args: Any) -> Any:
        async with self._slots:
            try:
                conn = await self._checkout()
            except _transport_failures() as exc:
                raise ConnectionError(f"forsund {self.host}:{self.port}: {exc}") from exc
            try:
                result = await getattr(conn.client, method)(**_by_name(method, args))
            except _refusals() as exc:
                self._checkin(conn)
                raise _server_error(exc) from None
            except BaseException as exc:
                conn.client.close()  # a call cut short may have left bytes unsent
                raise _call_failure(f"{self.host}:{self.port}", method, exc)  # noqa: B904 - it sets the cause
            self._checkin(conn)
            return result

    async def ping(self) -> int:
        """0 when the server is up."""
        return await self._call("ping")

    async def create(self, key: str, second: int, minute: int = -1, hour: int = -1,
                     day: int = -1, month: int = -1, week: int = -1, action: str = "shell",
                     params: Mapping[str, str] | None = None) -> Plan:
        """Create (or replace) a fixed-time plan: each field an exact value or -1 for any."""
        return _to_plan(await self._call("create", key, second, minute, hour, day, month,
                                         week, action, dict(params or {})))

    async def create_timeout(self, key: str, second: int, minute: int = -1, hour: int = -1,
                             day: int = -1, month: int = -1, week: int = -1, count: int = 1,
                             action: str = "shell",
                             params: Mapping[str, str] | None = None) -> Plan:
        """Create (or replace) a delay plan firing every interval, ``count`` times
        (0: forever)."""
        return _to_plan(await self._call("createTimeout", key, second, minute, hour, day,
                                         month, week, count, action, dict(params or {})))

    async def get(self, key: str) -> Plan:
        """The plan with its current status; 1003 when there is none."""
        return _to_plan(await self._call("get", key))

    async def remove(self, key: str) -> Plan:
        """Remove a plan and return it; 1003 when there is none."""
        return _to_plan(await self._call("remove", key))

    async def get_keys(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix``, sorted."""
        return list(await self._call("getKeys", prefix))

    async def get_time(self, timestamp: int = 0) -> list[Plan]:
        """Plans due at unix second ``timestamp`` (0: now)."""
        return [_to_plan(plan) for plan in await self._call("getTime", timestamp)]

    async def get_current(self) -> list[Plan]:
        """Plans due at the server's current second."""
        return [_to_plan(plan) for plan in await self._call("getCurrent")]

    async def info(self) -> dict[str, str]:
        """The server's figures (``forsun info``)."""
        return dict(await self._call("info"))
