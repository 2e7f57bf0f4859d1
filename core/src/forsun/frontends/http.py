"""HTTP JSON front end (DESIGN 3.3), on when ``--http=HOST:PORT`` (or ``:PORT``) is given.

The routes are in :mod:`forsun.frontends.http_routes`, with those plugins add through the
``register_routes`` hook (the operator's routes, :mod:`.insight_routes`, among them); the
reply envelope and the HTTP statuses in :mod:`forsun.frontends.http_server` (both imported
when the server starts, so that listing plugins does not load the server), how request
bodies are read in
:mod:`forsun.frontends.http_decoding`; the server also serves its own OpenAPI description
at ``GET /v1/openapi.json``.

At most ``--max-connections`` connections are open: at the cap a new one is accepted and
closed at once. A connection waiting ``--idle-timeout`` seconds for a request is closed.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl
from ..options import Option
from .acceptor import Acceptor, connection_limit, idle_timeout
from .base import Frontend
from .security import check_token, warn_if_exposed

if TYPE_CHECKING:
    from ..service import Service
    from .http_server import ApiServer

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_SIZE = 16 << 20

_BIND = re.compile(r"(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:\[\]]*)):(?P<port>\d+)|(?P<bare>\d+)")


@hookimpl
def register_options(register: Callable[[Option], None]) -> None:
    register(Option("http", default="", ini="http_bind", metavar="HOST:PORT",
                    help="serve the HTTP API on this address, e.g. 127.0.0.1:8080 or :8080 "
                         "(all interfaces); off when empty"))
    register(Option("http-max-body-size", type=int, default=DEFAULT_MAX_BODY_SIZE,
                    ini="http_max_body_size", metavar="BYTES",
                    help="largest HTTP request body accepted; a larger one is answered 413"))


@hookimpl
def register_frontends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("http", HttpFrontend)


def parse_bind(text: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT``, ``[IPV6]:PORT``, ``:PORT`` or ``PORT`` (host ""
    means every interface). ValueError naming ``--http`` otherwise."""
    match = _BIND.fullmatch(text.strip())
    port = int(match["port"] or match["bare"]) if match else -1
    if match is None or not 0 <= port <= 65535:
        raise ValueError(f"--http {text!r}: expected HOST:PORT or :PORT")
    return match["v6"] or match["host"] or "", port


class HttpFrontend(Frontend):
    """Serves the HTTP API (:mod:`.http_server`) on the running asyncio loop."""

    def __init__(self, service: Service) -> None:
        super().__init__(service)
        self.bind = str(service.options.http or "")
        self.max_body_size = int(service.options.http_max_body_size)
        self.token = str(service.options.token or "")
        self._server: ApiServer | None = None
        self._acceptor: Acceptor | None = None
        self._address = ""
        self.max_connections = 0

    @property
    def enabled(self) -> bool:
        return bool(self.bind.strip())

    @property
    def address(self) -> str:
        return self._address

    def info(self) -> dict[str, str]:
        return {"http_bind_port": self._address,
                "http_max_connections": str(self.max_connections)}

    async def start(self) -> None:
        import tornado.netutil

        from .http_server import make_server

        host, port = parse_bind(self.bind)
        check_token(self.token)
        if self.max_body_size <= 0:
            raise ValueError(f"--http-max-body-size {self.max_body_size}: must be positive")
        options = self.service.options
        self.max_connections = connection_limit(int(options.max_connections))
        timeout = idle_timeout(float(options.idle_timeout))
        try:
            sockets = tornado.netutil.bind_sockets(port, host or None)
        except OSError as exc:
            raise OSError(exc.errno, f"--http {self.bind}: {exc.strerror}") from exc
        self._server = make_server(self.service, self.max_body_size, timeout)
        self._acceptor = Acceptor(sockets, self._accepted, flag="--http")
        self._acceptor.start()
        shown = f"[{host}]" if ":" in host else host or "0.0.0.0"
        self._address = f"{shown}:{sockets[0].getsockname()[1]}"
        warn_if_exposed("--http", host, self.token)

    async def stop(self) -> None:
        if self._server is None or self._acceptor is None:
            return
        server, self._server = self._server, None
        self._acceptor.close()
        self._acceptor = None
        await server.close_all_connections()

    def _accepted(self, conn: socket.socket, address: Any) -> None:
        """Serve a new connection, or close it at once at the cap."""
        assert self._server is not None
        if self._server.open_connections >= self.max_connections:
            conn.close()
            self.service.stats.inc("http_connection_refused_count")
            log.warning("--http: %d connections are open (--max-connections); closing new "
                        "connections at once", self.max_connections)
            return
        self._server.serve(conn, address)
