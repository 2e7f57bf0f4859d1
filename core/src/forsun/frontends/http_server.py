"""The HTTP API's HTTP/1.1 server: an asyncio protocol around the httptools (llhttp)
parser, serving :data:`.http_routes.ROUTES` (:class:`ApiHandler` is what their operations
see of a request).

Every reply is ``{"errcode": 0, "errmsg": "", "data": ...}`` (but ``GET /v1/openapi.json``,
which answers the bare document, and routes that plugins mark ``enveloped=False`` or
``raw``). HTTP statuses:

- 200: the operation ran: errcode 0, or 1001-1007 when the service refused it (as the
  original did, so clients that only read ``errcode`` keep working). Wrong JSON member types
  are 1004 naming the member (``[2].second: must be an integer``).
- 400: the body cannot be used at all: not UTF-8 or not JSON (1004), empty or without any
  plan (1007), not a JSON object or array (1004).
- 401: ``--token`` is set and the request lacks ``Authorization: Bearer TOKEN`` or carries
  another token (1001; ``WWW-Authenticate: Bearer``). ``GET /v1/ping`` and
  ``GET /v1/openapi.json`` need no token.
- 403: a POST, PUT or DELETE sent by a browser from a page of another site
  (:func:`~.security.cross_site`; 1001).
- 404 (unknown path), 405 (method not served there; ``Allow`` lists those that are): 1001.
- 413: the body is larger than ``--http-max-body-size`` (1004). When ``Content-Length``
  tells, the answer comes before the body is read; the connection is then closed.
- 500: an unexpected exception (1001); it is logged, its traceback is never sent.

Why not tornado (which served the API until issue 26): a single ``PUT /v1/plan`` cost
forsund ~1.3 M instructions (callgrind) on tornado.web and ~0.3 M on this protocol; bare
servers doing only its wire work cost 1.12 M (tornado.web), 0.71 M (a tornado connection
delegate) and 0.12 M (this protocol). Each connection parses its requests as the bytes
arrive and serves them one at a time, in order (pipelined requests wait; reading pauses
while more than one is queued).

Bounds: a request head (request line and headers) may hold :data:`MAX_HEAD_BYTES` (431
beyond); bytes that are not HTTP/1.x (also both Content-Length and chunked encoding) are
answered 400 and the connection closed; a connection waiting ``idle_timeout`` seconds for
a request is closed.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import http
import json
import logging
import re
import socket
import time
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httptools

from .. import __version__
from ..errors import ErrorCode, ForsunPlanError
from . import jsonbody
from .acceptor import close_if_never_ran
from .http_decoding import BadRequest, body_text, json_value, query_integer
from .http_routes import REPLY_MODES, STATE_MODES, all_routes
from .openapi import CRONTAB, Route, Streamed, document
from .security import cross_site, token_accepted

if TYPE_CHECKING:
    from ..service import Service

log = logging.getLogger(__name__)

#: Largest request line plus headers (tornado's default, which this server replaced).
MAX_HEAD_BYTES = 64 << 10
#: HTTP methods counted by name in the metrics (any other: ``other``).
METRIC_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH"})
#: Methods that change nothing: served to requests from other sites.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Requests parsed ahead of the one being served before reading pauses.
MAX_QUEUED = 1
_JSON_TYPE = b"application/json; charset=UTF-8"


class Request:
    """One request as parsed: ``headers`` by lower-case name (the last of repeated ones)."""

    __slots__ = ("body", "closing", "counted", "early", "headers", "keep_alive", "method",
                 "path", "path_kwargs", "query", "route", "routes", "started", "uri",
                 "version")

    protocol = "http"

    def __init__(self) -> None:
        self.uri = b""
        self.headers = _Headers()
        self.body = bytearray()
        self.method = self.path = self.version = ""
        self.query: dict[str, list[str]] = {}
        self.path_kwargs: dict[str, str] = {}
        self.keep_alive = True
        self.closing = False
        self.counted = False  # in http_requesting_count
        #: An answer decided before the body was read (401, 404, 405, 413).
        self.early: tuple[int, ForsunPlanError, dict[str, str]] | None = None
        self.routes: Mapping[str, Route] | None = None
        self.route: Route | None = None
        self.started = 0.0

    @property
    def host(self) -> str:
        return self.headers.get("host", "")


class _Headers(dict[str, str]):
    """Request headers, stored by lower-case name, read by any case (as
    :func:`.security.cross_site` reads them)."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, name.lower(), default)


class _Application:
    """What a route reads of the server as ``handler.application``: its ``settings``
    (``openapi``, the document of every route served)."""

    __slots__ = ("settings",)

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings


class ApiHandler:
    """What a route's operation sees of its request."""

    __slots__ = ("application", "request", "service")

    def __init__(self, service: Service, request: Request, application: _Application) -> None:
        self.service = service
        self.request = request
        self.application = application

    @property
    def path_kwargs(self) -> dict[str, str]:
        """The path parameter of a route whose path ends in ``{name}``."""
        return self.request.path_kwargs

    def get_query_argument(self, name: str, default: str = "", strip: bool = True) -> str:
        values = self.request.query.get(name)
        if not values:
            return default
        return values[-1].strip() if strip else values[-1]

    def required_argument(self, name: str) -> str:
        value = self.get_query_argument(name, "", strip=False)
        if not value:
            raise ForsunPlanError(ErrorCode.MISSING_ARGUMENT, f"{name} is required")
        return value

    def integer_argument(self, name: str, low: int, high: int) -> int:
        """Query argument ``name`` as an integer in ``[low, high]`` (0 when absent)."""
        return query_integer(name, self.get_query_argument(name, ""), low, high)

    def state_mode(self) -> str:
        """``?state=``: ``new`` (the default) or ``keep``."""
        return self._choice("state", STATE_MODES)

    def reply_mode(self) -> str:
        """``?reply=``: ``plans`` (the default) or ``keys``."""
        return self._choice("reply", REPLY_MODES)

    def _choice(self, name: str, choices: tuple[str, ...]) -> str:
        """Query argument ``name``, one of ``choices`` (absent: the first)."""
        value = self.get_query_argument(name, choices[0])
        if value not in choices:
            raise ForsunPlanError.invalid(name, f"{value!r} is not one of "
                                                f"{', '.join(choices)}")
        return value

    def is_crontab(self) -> bool:
        media = self.request.headers.get("content-type", "").split(";")[0]
        return media.strip().lower() == CRONTAB

    def body_text(self) -> str:
        return body_text(self.request.body)

    async def json_body(self) -> Any:
        return await json_value(self.request.body, self.service.pacer)


def make_server(service: Service, max_body_size: int, idle_timeout: float) -> ApiServer:
    """The HTTP server of the API; it serves the connections given to its ``serve``. One
    waiting ``idle_timeout`` seconds for a request is closed."""
    return ApiServer(service, max_body_size, idle_timeout)


def routes_by_path(routes: tuple[Route, ...]) -> dict[str, dict[str, Route]]:
    """``routes`` by path, then method."""
    by_path: dict[str, dict[str, Route]] = {}
    for route in routes:
        by_path.setdefault(route.path, {})[route.method] = route
    return by_path


class ApiServer:
    """Serves the connections handed to :meth:`serve` and counts them (``open_connections``;
    in the service's stats ``http_connecting_count`` open now, ``http_connected_count``
    ever)."""

    def __init__(self, service: Service, max_body_size: int, idle_timeout: float) -> None:
        self.service = service
        self.max_body_size = max_body_size
        self.idle_timeout = idle_timeout
        routes = all_routes(service.pm)
        self.routes = routes_by_path(routes)
        #: Paths ending in a ``{name}`` segment: (the path before it, name, routes).
        self.prefixed = [(path.rpartition("/")[0] + "/", path.rpartition("/")[2][1:-1], by_method)
                         for path, by_method in self.routes.items()
                         if path.endswith("}") and path.rpartition("/")[2].startswith("{")]
        self.application = _Application({"openapi": document(routes, __version__)})
        self.connections: set[Connection] = set()
        self._starting: set[asyncio.Task[Any]] = set()

    @property
    def open_connections(self) -> int:
        return len(self.connections) + len(self._starting)

    def serve(self, conn: socket.socket, address: Any) -> None:
        """Serve an accepted, non-blocking socket."""
        task = asyncio.get_running_loop().create_task(
            self._set_up(conn, Connection(self, address)))
        self._starting.add(task)
        task.add_done_callback(functools.partial(self._started, conn))

    async def _set_up(self, conn: socket.socket, connection: Connection) -> None:
        """Give ``conn`` to a transport serving ``connection``. Ends normally even when
        cancelled, so a cancelled task is one that never ran (see :meth:`_started`).

        A set-up that fails or is cancelled (by :meth:`close_all_connections`) after
        ``connection_made`` leaves the connection uncounted here: asyncio's loop then
        closes the transport and calls ``connection_lost``, but uvloop closes it without
        that call, which left the connection counted and close_all_connections waiting
        for it forever."""
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(lambda: connection, conn)
        except asyncio.CancelledError:
            connection.set_up_failed()
        except Exception as exc:
            log.debug("http connection gone before it was served: %s", exc)
            connection.set_up_failed()

    def _started(self, conn: socket.socket, task: asyncio.Task[Any]) -> None:
        """Forget the set-up ``task``; close ``conn`` if the task never ran (no transport
        took the socket)."""
        self._starting.discard(task)
        close_if_never_ran(conn, task)

    async def close_all_connections(self) -> None:
        for task in list(self._starting):
            task.cancel()
        for connection in list(self.connections):
            connection.close()
        while self.connections or self._starting:
            await asyncio.sleep(0.01)


class Connection(asyncio.Protocol):
    """One client connection (see the module docstring)."""

    def __init__(self, server: ApiServer, address: Any) -> None:
        self.server = server
        self.service = server.service
        self.peer = address[0] if isinstance(address, tuple) and address else str(address)
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.request: Request | None = None  # being parsed
        self.queue: collections.deque[Request] = collections.deque()
        self.worker: asyncio.Task[None] | None = None
        self.head_bytes = 0
        self.reading = True
        self.paused = False
        #: Set while the transport holds more unsent reply bytes than it likes.
        self.drained: asyncio.Future[None] | None = None
        self.closed = False
        self.active = time.monotonic()
        self.idle_check: asyncio.TimerHandle | None = None

    # -- the connection --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.server.connections.add(self)
        stats = self.service.stats
        stats.inc("http_connecting_count")
        stats.inc("http_connected_count")
        self._arm_idle(self.server.idle_timeout)

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.resume_writing()
        if self in self.server.connections:
            self.server.connections.discard(self)
            self.service.stats.dec("http_connecting_count")
        if self.idle_check is not None:
            self.idle_check.cancel()
        if self.worker is not None:
            self.worker.cancel()
        for request in (*self.queue, *((self.request,) if self.request else ())):
            self._counted_end(request, None)
        self.queue.clear()
        self.request = None

    def set_up_failed(self) -> None:
        """Its transport's set-up failed or was cancelled: counted (``connection_made``
        ran) and not yet lost, it is lost now (``connection_lost`` is idempotent)."""
        if self in self.server.connections:
            self.connection_lost(None)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def _arm_idle(self, delay: float) -> None:
        self.idle_check = asyncio.get_running_loop().call_later(delay, self._check_idle)

    def _check_idle(self) -> None:
        """Close the connection when it has waited the idle timeout for a request, or for
        the end of a request's head (a client sending its headers a byte at a time)."""
        request, timeout = self.request, self.server.idle_timeout
        if request is not None and not request.method:  # in the head since request.started
            waited = time.monotonic() - request.started
        else:
            busy = request is not None or self.queue or self.worker is not None
            waited = 0.0 if busy else time.monotonic() - self.active
        if waited >= timeout:
            log.debug("closing http connection from %s idle for %g s", self.peer, timeout)
            self.close()
        else:
            self._arm_idle(timeout - waited)

    def data_received(self, data: bytes) -> None:
        if self.closed or not self.reading:
            return
        self.active = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "connection upgrades are not served")
        except httptools.HttpParserInvalidMethodError:
            self._unknown_method(data)
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, _StopReading):
                self.reading = False
            elif isinstance(cause, _HeadTooLarge):
                self._refuse(431, f"request head larger than {MAX_HEAD_BYTES} bytes")
            else:
                self._refuse(400, f"malformed HTTP request: {exc}")
        if len(self.queue) > MAX_QUEUED and not self.paused and not self.closed:
            self.paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]

    def _unknown_method(self, data: bytes) -> None:
        """405 for a method the parser does not know (TRACE, FOO): the methods the path
        takes are in ``Allow``."""
        line = _REQUEST_LINE.match(data)
        if line is None:
            self._refuse(400, "malformed HTTP request: not a request line")
            return
        method, target = line[1].decode("latin-1"), line[2].decode("latin-1")
        path = target.partition("?")[0]
        routes = self.server.routes.get(path, {})
        allowed = ", ".join(sorted(routes))
        self._refuse(405, f"{method} is not served on {path} (only {allowed})",
                     {"Allow": allowed} if routes else {})

    def _refuse(self, status: int, message: str, headers: Mapping[str, str] | None = None
                ) -> None:
        """Answer a request that cannot be parsed, and close the connection."""
        log.info("http client %s: %s; closing its connection", self.peer, message)
        self.reading = False
        if self.request is not None:
            self._counted_end(self.request, ErrorCode.UNKNOWN)
            self.request = None
        if self.worker is None and not self.queue:
            self._write(status, _envelope(ErrorCode.UNKNOWN, message), headers=headers,
                        close=True)
            self.close()
        else:
            self.closed = True  # the worker closes it after the requests before

    # -- parser callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.request = Request()
        self.request.started = time.monotonic()
        self.head_bytes = 0

    def on_url(self, url: bytes) -> None:
        request = self.request
        assert request is not None
        request.uri += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.request is not None
        self._count_head(len(name) + len(value) + 4)
        self.request.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def _count_head(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > MAX_HEAD_BYTES:
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        request = self.request
        assert request is not None
        parser = self.parser
        request.method = parser.get_method().decode("latin-1")
        request.version = parser.get_http_version()
        request.keep_alive = parser.should_keep_alive()
        url = httptools.parse_url(request.uri)
        request.path = (url.path or b"").decode("latin-1")
        if url.query:
            request.query = urllib.parse.parse_qs(url.query.decode("latin-1"),
                                                  keep_blank_values=True, encoding="utf-8")
        self.service.stats.inc("http_requesting_count")
        request.counted = True
        self._prepare(request)

    def _find(self, request: Request) -> Mapping[str, Route] | None:
        """The routes of the request's path (a ``{name}`` segment takes the rest of it)."""
        path = request.path
        routes = self.server.routes.get(path)
        if routes is not None or not self.server.prefixed:
            return routes
        for prefix, name, by_method in self.server.prefixed:
            if path.startswith(prefix):
                request.path_kwargs = {name: urllib.parse.unquote(path[len(prefix):])}
                return by_method
        return None

    def _prepare(self, request: Request) -> None:
        """The checks before the body: token, route, announced size. Unless the body is
        refused unread (413), a client waiting to send it (``Expect: 100-continue``) is
        told to; an answer decided here (401, 404, 405) comes once it has been read."""
        if request.headers.get("expect", "").lower() == "100-continue":
            length = request.headers.get("content-length", "")
            if not (length.isdigit() and int(length) > self.server.max_body_size):
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # type: ignore[union-attr]
        routes = request.routes = self._find(request)
        method = request.method
        route = request.route = routes.get(method) if routes is not None else None
        if method not in SAFE_METHODS and cross_site(request):  # type: ignore[arg-type]
            request.early = (403, ForsunPlanError(
                ErrorCode.UNKNOWN, f"{method} from another site is refused (Origin "
                                   f"{request.headers.get('origin', '-')}, Sec-Fetch-Site "
                                   f"{request.headers.get('sec-fetch-site', '-')})"), {})
            return
        if route is None or route.authenticated:
            given = _bearer_token(request.headers.get("authorization", ""))
            if not token_accepted(self.service.options.token, given):
                reason = "a wrong token" if given is not None else "no token"
                request.early = (401, ForsunPlanError(
                    ErrorCode.UNKNOWN, f"{reason}: this server requires the header "
                                       "Authorization: Bearer TOKEN (its --token)"),
                    {"WWW-Authenticate": 'Bearer realm="forsun"'})
                return
        if routes is None:
            request.early = (404, ForsunPlanError(ErrorCode.UNKNOWN,
                                                  f"no route {request.path}"), {})
            return
        if route is None:
            allowed = ", ".join(sorted(routes))
            request.early = (405, ForsunPlanError(
                ErrorCode.UNKNOWN, f"{method} is not served on {request.path} (only "
                                   f"{allowed})"), {"Allow": allowed})
            return
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.server.max_body_size:
            self._too_large(request)

    def _too_large(self, request: Request) -> None:
        """413, then close: the rest of the body is not read."""
        request.early = (413, ForsunPlanError(
            ErrorCode.STORE_FAILED, f"body: larger than {self.server.max_body_size} bytes"),
            {})
        request.keep_alive = False
        request.closing = True
        self.queue.append(request)
        self.request = None
        self._start_worker()
        raise _StopReading  # the body is not read

    def on_body(self, body: bytes) -> None:
        request = self.request
        if request is None or request.early is not None:
            return
        request.body += body
        if len(request.body) > self.server.max_body_size:
            request.body = bytearray()
            self._too_large(request)

    def on_message_complete(self) -> None:
        request = self.request
        if request is None:
            return
        self.request = None
        self.queue.append(request)
        self._start_worker()

    # -- serving -----------------------------------------------------------------------------

    def _start_worker(self) -> None:
        if self.worker is None:
            self.worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        try:
            while self.queue and self.transport is not None:
                request = self.queue.popleft()
                await self._serve(request)
                if request.closing or not request.keep_alive:
                    self.close()
                    return
                if self.drained is not None:  # a client that does not read its replies
                    await self.drained
                if self.paused and len(self.queue) <= MAX_QUEUED and not self.closed:
                    self.paused = False
                    self.transport.resume_reading()
        finally:
            self.worker = None
            self.active = time.monotonic()
            if self.closed and self.transport is not None:
                self.transport.close()

    async def _serve(self, request: Request) -> None:
        errcode: int | None = None
        try:
            errcode = await self._answer(request)
        finally:
            self._counted_end(request, errcode)

    async def _answer(self, request: Request) -> int:
        """Run the request's route and write its reply; the reply's errcode."""
        errcode = 0
        content_type = _JSON_TYPE
        if request.early is not None:
            status, error, headers = request.early
            errcode = error.code
            body = _envelope(error.code, error.message)
        else:
            route = request.route
            assert route is not None
            headers = {}
            try:
                result = await route.run(ApiHandler(self.service, request,
                                                    self.server.application))
            except BadRequest as exc:
                status, errcode, body = exc.status, exc.code, _envelope(exc.code, exc.message)
            except ForsunPlanError as exc:
                status, errcode, body = 200, exc.code, _envelope(exc.code, exc.message)
            except Exception as exc:
                log.exception("HTTP %s %s failed", request.method, request.path)
                errcode = ErrorCode.UNKNOWN
                status, body = 500, _envelope(
                    errcode, f"unexpected {type(exc).__name__} (see the server log)")
            else:
                status = 200
                if isinstance(result, Streamed):
                    return await self._stream(request, result)
                if route.raw:
                    media, body = result
                    content_type = media.encode("latin-1")
                elif route.enveloped:
                    body = jsonbody.dumps({"errcode": 0, "errmsg": "", "data": result})
                else:
                    body = json.dumps(result, ensure_ascii=False).encode("utf-8")
        self._write(status, body, headers=headers, request=request,
                    close=request.closing or not request.keep_alive, content_type=content_type)
        return errcode

    async def _stream(self, request: Request, result: Streamed) -> int:
        """Send ``result`` in chunks (chunked transfer encoding), each written once the
        client has taken the one before (a slow reader holds the producer back). A failure
        part way closes the connection without ending the reply, so the client sees it cut."""
        transport = self.transport
        assert transport is not None
        transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
                        b"%s\r\n" % (result.media.encode("latin-1"),
                                      b"" if request.keep_alive else b"Connection: close\r\n"))
        try:
            async for chunk in result.chunks:
                if self.closed:
                    return 0  # the client went away
                if chunk:
                    transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if self.drained is not None:
                    await self.drained
        except Exception:
            log.exception("HTTP %s %s failed part way", request.method, request.path)
            request.closing = True
            transport.abort()
            return int(ErrorCode.UNKNOWN)
        transport.write(b"0\r\n\r\n")
        return 0

    def _write(self, status: int, body: bytes, *, headers: Mapping[str, str] | None = None,
               request: Request | None = None, close: bool = False,
               content_type: bytes = _JSON_TYPE) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        head = [b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                % (status, _REASONS.get(status, b"Unknown"), content_type, len(body))]
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        if close:
            head.append(b"Connection: close\r\n")
        elif request is not None and request.version == "1.0":
            head.append(b"Connection: keep-alive\r\n")
        head.append(b"\r\n")
        if request is None or request.method != "HEAD":
            head.append(body)
        self.transport.write(b"".join(head))
        if request is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("%d %s %s (%s) %.1fms", status, request.method,
                      request.uri.decode("latin-1"), self.peer,
                      1000.0 * (time.monotonic() - request.started))

    def _counted_end(self, request: Request, errcode: int | None) -> None:
        if not request.counted:
            return
        request.counted = False
        stats = self.service.stats
        stats.dec("http_requesting_count")
        stats.inc("http_requested_count")
        if errcode != 0:
            stats.inc("http_requested_error_count")
        metrics = self.service.metrics
        if metrics is not None:
            method = request.method
            metrics.request("http", method if method in METRIC_METHODS else "other",
                            errcode == 0)


class _StopReading(Exception):
    """The request was answered before its body (raised out of a parser callback)."""


class _HeadTooLarge(Exception):
    """A request head beyond :data:`MAX_HEAD_BYTES` (raised out of a parser callback)."""


#: A request line (of a method the parser does not know): method, target.
_REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}) (\S{1,8000}) HTTP/1\.[01]\r?\n")
_REASONS = {status.value: status.phrase.encode() for status in http.HTTPStatus}


def _envelope(errcode: int, errmsg: str) -> bytes:
    return jsonbody.dumps({"errcode": errcode, "errmsg": errmsg, "data": {}})


def _bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, or None."""
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
