"""The HTTP API's tornado server: the handler serving :data:`.http_routes.ROUTES`, its
replies and HTTP statuses, and the server counting its connections.

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
"""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import tornado.httpserver
import tornado.httputil
import tornado.iostream
import tornado.web

from .. import __version__
from ..errors import ErrorCode, ForsunPlanError
from . import jsonbody
from .http_decoding import BadRequest, body_text, json_value, query_integer
from .http_routes import REPLY_MODES, STATE_MODES, all_routes
from .openapi import CRONTAB, Route, Streamed, document
from .security import cross_site, token_accepted

if TYPE_CHECKING:
    from ..service import Service

log = logging.getLogger(__name__)

#: HTTP methods counted by name in the metrics (any other: ``other``).
METRIC_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH"})
#: Methods that change nothing: served to requests from other sites.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# -- the handler -----------------------------------------------------------------------------


@tornado.web.stream_request_body
class ApiHandler(tornado.web.RequestHandler):
    """Serves the routes of one path (``routes`` by method; None: an unknown path). The
    body is streamed in so that its size is checked before it is buffered."""

    def initialize(self, service: Service, max_body_size: int,
                   routes: Mapping[str, Route] | None) -> None:
        self.service = service
        self.max_body_size = max_body_size
        self.routes = routes
        self.body = bytearray()
        self._errcode: int | None = None
        self._counted = False

    # -- request lifecycle ---------------------------------------------------------------

    def prepare(self) -> None:
        self.service.stats.inc("http_requesting_count")
        self._counted = True
        method = self.request.method or ""
        route = self.routes.get(method) if self.routes is not None else None
        if method not in SAFE_METHODS and cross_site(self.request):
            self.fail(403, ForsunPlanError(
                ErrorCode.UNKNOWN, f"{method} from another site is refused (Origin "
                                   f"{self.request.headers.get('Origin', '-')}, "
                                   f"Sec-Fetch-Site "
                                   f"{self.request.headers.get('Sec-Fetch-Site', '-')})"))
            return
        if route is None or route.authenticated:
            given = self.bearer_token()
            if not token_accepted(self.service.options.token, given):
                self.set_header("WWW-Authenticate", 'Bearer realm="forsun"')
                reason = "a wrong token" if given is not None else "no token"
                self.fail(401, ForsunPlanError(
                    ErrorCode.UNKNOWN, f"{reason}: this server requires the header "
                                       "Authorization: Bearer TOKEN (its --token)"))
                return
        if self.routes is None or method not in self.routes:
            self._no_route()
        elif "Content-Length" not in self.request.headers:
            # A chunked body: data_received enforces the limit (the connection's own limit
            # would answer a bare 400 instead of the envelope).
            self.request.connection.set_max_body_size(sys.maxsize)
        else:
            length = self.request.headers["Content-Length"]
            if length.isdigit() and int(length) > self.max_body_size:
                self.request.connection.set_max_body_size(int(length))
                self._too_large()

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self.body += chunk
        if len(self.body) > self.max_body_size:
            self.body = bytearray()
            self._too_large()

    async def serve(self, *args: str, **kwargs: str) -> None:
        """Run the route of this method (prepare() answered every request without one);
        a path parameter is in :attr:`path_kwargs`."""
        assert self.routes is not None
        route = self.routes[self.request.method or ""]
        try:
            result = await route.run(self)
        except BadRequest as exc:
            self.fail(exc.status, exc)
        except ForsunPlanError as exc:
            self.fail(200, exc)
        except Exception as exc:
            log.exception("HTTP %s %s failed", self.request.method, self.request.uri)
            self.fail(500, ForsunPlanError(
                ErrorCode.UNKNOWN, f"unexpected {type(exc).__name__} (see the server log)"))
        else:
            if isinstance(result, Streamed):
                await self._stream(result)
            elif route.raw:
                content_type, body = result
                self._errcode = 0
                self.set_header("Content-Type", content_type)
                self.finish(body)
            elif route.enveloped:
                self.reply(200, 0, "", result)
            else:
                self._errcode = 0
                self.set_header("Content-Type", "application/json; charset=UTF-8")
                self.finish(json.dumps(result, ensure_ascii=False))

    get = post = put = delete = serve

    async def _stream(self, result: Streamed) -> None:
        """Send ``result`` chunk by chunk, each flushed before the next is made (a slow
        reader holds the producer back). A failure part way closes the connection without
        ending the chunked reply, so the client sees it cut."""
        self._errcode = 0
        self.set_header("Content-Type", result.media)
        try:
            async for chunk in result.chunks:
                self.write(chunk)
                await self.flush()
        except tornado.iostream.StreamClosedError:
            return  # the client went away
        except Exception:
            log.exception("HTTP %s %s failed part way", self.request.method, self.request.uri)
            self._errcode = int(ErrorCode.UNKNOWN)
            self.request.connection.close()
            return
        self.finish()

    def on_finish(self) -> None:
        self._end()

    def on_connection_close(self) -> None:
        self._end()

    def _end(self) -> None:
        if not self._counted:
            return
        self._counted = False
        stats = self.service.stats
        stats.dec("http_requesting_count")
        stats.inc("http_requested_count")
        if self._errcode != 0:
            stats.inc("http_requested_error_count")
        metrics = self.service.metrics
        if metrics is not None:
            method = self.request.method or ""
            metrics.request("http", method if method in METRIC_METHODS else "other",
                            self._errcode == 0)

    # -- replies -------------------------------------------------------------------------

    def reply(self, status: int, errcode: int, errmsg: str, data: Any) -> None:
        """Finish with the envelope (unless already finished)."""
        if self._finished:
            return
        self._errcode = errcode
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(jsonbody.dumps({"errcode": errcode, "errmsg": errmsg, "data": data}))

    def fail(self, status: int, error: ForsunPlanError) -> None:
        self.reply(status, error.code, error.message, {})

    def _no_route(self) -> None:
        """404 for an unknown path; 405 with ``Allow`` for a method the path does not take
        (also one tornado itself does not know, such as TRACE)."""
        method, path = self.request.method or "", self.request.path
        if self.routes is None:
            self.fail(404, ForsunPlanError(ErrorCode.UNKNOWN, f"no route {path}"))
            return
        allowed = ", ".join(sorted(self.routes))
        self.set_header("Allow", allowed)
        self.fail(405, ForsunPlanError(ErrorCode.UNKNOWN,
                                       f"{method} is not served on {path} (only {allowed})"))

    def _too_large(self) -> None:
        self.fail(413, ForsunPlanError(
            ErrorCode.STORE_FAILED, f"body: larger than {self.max_body_size} bytes"))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Tornado's own errors (an unknown method, an exception escaping a hook) get the
        envelope too, never an HTML page or a traceback."""
        if status_code == 405:
            self._no_route()
            return
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = tornado.httputil.responses.get(status_code, "Unknown")
        if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        self.fail(status_code, ForsunPlanError(ErrorCode.UNKNOWN, message))

    # -- request parts -------------------------------------------------------------------

    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer TOKEN`` header, or None."""
        scheme, _, token = self.request.headers.get("Authorization", "").strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

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
        mode = self.get_query_argument("state", "new")
        if mode not in STATE_MODES:
            raise ForsunPlanError.invalid("state", f"{mode!r} is not one of "
                                                   f"{', '.join(STATE_MODES)}")
        return mode

    def reply_mode(self) -> str:
        """``?reply=``: ``plans`` (the default) or ``keys``."""
        mode = self.get_query_argument("reply", "plans")
        if mode not in REPLY_MODES:
            raise ForsunPlanError.invalid("reply", f"{mode!r} is not one of "
                                                   f"{', '.join(REPLY_MODES)}")
        return mode

    def is_crontab(self) -> bool:
        media = self.request.headers.get("Content-Type", "").split(";")[0]
        return media.strip().lower() == CRONTAB

    def body_text(self) -> str:
        return body_text(self.body)

    async def json_body(self) -> Any:
        return await json_value(self.body, self.service.pacer)


# -- the server ------------------------------------------------------------------------------


class ApiServer(tornado.httpserver.HTTPServer):
    """Serves the connections handed to :meth:`serve` and counts them (``open_connections``;
    in the service's stats ``http_connecting_count`` open now, ``http_connected_count``
    ever)."""

    service: Service
    open_connections = 0

    def serve(self, connection: socket.socket, address: Any) -> None:
        """Serve an accepted, non-blocking socket."""
        stream = tornado.iostream.IOStream(connection, max_buffer_size=self.max_buffer_size,
                                           read_chunk_size=self.read_chunk_size)
        self.handle_stream(stream, address)

    def handle_stream(self, stream: Any, address: Any) -> None:
        self.open_connections += 1
        self.service.stats.inc("http_connecting_count")
        self.service.stats.inc("http_connected_count")
        super().handle_stream(stream, address)

    def on_close(self, server_conn: Any) -> None:
        self.open_connections -= 1
        self.service.stats.dec("http_connecting_count")
        super().on_close(server_conn)


def make_application(service: Service, max_body_size: int) -> tornado.web.Application:
    """The tornado application serving exactly the core's routes and those the service's
    plugins register (:func:`~.http_routes.all_routes`); its setting ``openapi`` is their
    document."""
    routes = all_routes(service.pm)
    by_path: dict[str, dict[str, Route]] = {}
    for route in routes:
        by_path.setdefault(route.path, {})[route.method] = route
    args = {"service": service, "max_body_size": max_body_size}
    handlers = [(_pattern(path), ApiHandler, {**args, "routes": by_method})
                for path, by_method in by_path.items()]
    return tornado.web.Application(handlers, default_handler_class=ApiHandler,
                                   default_handler_args={**args, "routes": None},
                                   log_function=_log_request,
                                   openapi=document(routes, __version__))


def _pattern(path: str) -> str:
    """The URL pattern of a route's path: literal, but for a trailing ``{name}`` segment
    that matches the rest (see :class:`~.openapi.Route`)."""
    head, _, last = path.rpartition("/")
    if last.startswith("{") and last.endswith("}"):
        return f"{re.escape(head)}/(?P<{last[1:-1]}>.*)"
    return re.escape(path)


def _log_request(handler: tornado.web.RequestHandler) -> None:
    request = handler.request
    log.debug("%d %s %s (%s) %.1fms", handler.get_status(), request.method, request.uri,
              request.remote_ip, 1000.0 * request.request_time())


def make_server(service: Service, max_body_size: int, idle_timeout: float) -> ApiServer:
    """The HTTP server of the API; it serves the connections given to its ``serve``. One
    waiting ``idle_timeout`` seconds for a request is closed."""
    server = ApiServer(make_application(service, max_body_size), max_body_size=max_body_size,
                       idle_connection_timeout=idle_timeout)
    server.service = service
    return server
