"""HTTP JSON front end (DESIGN 3.3), on when ``--http=HOST:PORT`` (or ``:PORT``) is given.

The routes, the reply envelope and the HTTP statuses are described in
:mod:`forsun.frontends.http_handlers` (imported when the server starts, so that listing
plugins does not load tornado.web); the server also serves its own OpenAPI description at
``GET /v1/openapi.json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..frontend import Frontend
from ..hookspecs import hookimpl
from ..options import Option
from .security import check_token, warn_if_exposed

if TYPE_CHECKING:
    import tornado.httpserver

    from ..service import Service

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
    """Serves the HTTP API with tornado on the running asyncio loop."""

    def __init__(self, service: Service) -> None:
        super().__init__(service)
        self.bind = str(service.options.http or "")
        self.max_body_size = int(service.options.http_max_body_size)
        self.token = str(service.options.token or "")
        self._server: tornado.httpserver.HTTPServer | None = None
        self._address = ""

    @property
    def enabled(self) -> bool:
        return bool(self.bind.strip())

    @property
    def address(self) -> str:
        return self._address

    def info(self) -> dict[str, str]:
        return {"http_bind_port": self._address}

    async def start(self) -> None:
        from .http_handlers import start_server

        host, port = parse_bind(self.bind)
        check_token(self.token)
        if self.max_body_size <= 0:
            raise ValueError(f"--http-max-body-size {self.max_body_size}: must be positive")
        try:
            self._server, self._address = start_server(self.service, host, port,
                                                       self.max_body_size)
        except OSError as exc:
            raise OSError(exc.errno, f"--http {self.bind}: {exc.strerror}") from exc
        warn_if_exposed("--http", host, self.token)

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.stop()
        await server.close_all_connections()
