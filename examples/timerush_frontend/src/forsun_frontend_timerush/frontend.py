"""The timerush front end: timerush's HTTP protocol on ``--timerush-listen``.

- ``POST /register/`` ``{"callback_cmd", "callback_data", "seconds"}`` →
  ``{"ret": 0, "data": {"key": KEY}}``
- ``POST /unregister/`` ``{"key"}`` → ``{"ret": 0, "data": {"ttl": SECONDS_REMAINING}}``

Bodies are JSON whatever the Content-Type says; a trailing slash is optional. Every answer
is a JSON object with HTTP status 200, as timerush's were: a malformed request gets
``{"ret": 1, "msg": ...}``, a refusal of the service its forsun code as ``ret`` (1003 for a
key that is not a pending timerush timer, 1004 when storing failed). An unknown path or
method gets ``ret`` 1 with status 404 or 405.

Timers are created and removed through the :class:`forsun.service.Service` API only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from forsun.errors import ErrorCode, ForsunPlanError
from forsun.frontend import Frontend

from .protocol import (
    ACTION,
    ProtocolError,
    new_key,
    parse_key,
    parse_object,
    parse_timer,
    remaining_seconds,
    timer_plan,
)

if TYPE_CHECKING:
    from forsun.service import Service

log = logging.getLogger(__name__)

#: ``ret`` of a malformed request, as in timerush.
RET_INVALID = 1

_LISTEN = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_listen(text: str) -> tuple[str | None, int]:
    """``(host, port)`` of ``HOST:PORT``, ``[IPV6]:PORT`` or ``:PORT`` (host None: every
    interface). ValueError naming ``--timerush-listen`` otherwise."""
    match = _LISTEN.fullmatch(text.strip())
    if match is None or int(match["port"]) > 65535:
        raise ValueError(f"--timerush-listen {text!r}: expected HOST:PORT or :PORT")
    return match["v6"] or match["host"] or None, int(match["port"])


def _reply(ret: int, *, data: dict[str, Any] | None = None, msg: str = "",
           status: int = 200) -> web.Response:
    body: dict[str, Any] = {"ret": ret}
    if ret == 0:
        body["data"] = data or {}
    else:
        body["msg"] = msg
    return web.json_response(body, status=status)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer routing errors and crashes with the protocol's JSON, never an HTML page."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _reply(RET_INVALID, msg=f"{request.method} {request.path}: {exc.reason}",
                      status=exc.status)
    except Exception as exc:
        log.exception("timerush %s %s failed", request.method, request.path)
        return _reply(ErrorCode.UNKNOWN, msg=f"{type(exc).__name__}: {exc}")


class TimerushFrontend(Frontend):
    """Serves the protocol with aiohttp on the running event loop; off when
    ``--timerush-listen`` is empty."""

    def __init__(self, service: Service) -> None:
        super().__init__(service)
        self.listen = str(service.options.timerush_listen or "").strip()
        self._runner: web.AppRunner | None = None
        self._address = ""

    @property
    def enabled(self) -> bool:
        return bool(self.listen)

    @property
    def address(self) -> str:
        return self._address

    def info(self) -> dict[str, str]:
        return {"timerush_bind_port": self._address}

    async def start(self) -> None:
        host, port = parse_listen(self.listen)
        app = web.Application(middlewares=[_json_errors])
        for path, handler in (("/register", self.register), ("/unregister", self.unregister)):
            app.router.add_post(path, handler)
            app.router.add_post(f"{path}/", handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(exc.errno, f"--timerush-listen {self.listen}: {exc.strerror}") \
                from exc
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self._address = (f"[{bound_host}]:{bound_port}" if ":" in bound_host
                         else f"{bound_host}:{bound_port}")

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def register(self, request: web.Request) -> web.Response:
        """``/register/``: create the timer's plan and answer its key."""
        try:
            timer = parse_timer(parse_object(await request.read()))
        except ProtocolError as exc:
            return _reply(RET_INVALID, msg=str(exc))
        try:
            plan = await self.service.create(timer_plan(timer, new_key()))
        except ForsunPlanError as exc:
            return _reply(exc.code, msg=exc.message)
        log.debug("timerush registered %s: %s in %ds", plan.key, timer.callback_cmd,
                  timer.seconds)
        return _reply(0, data={"key": plan.key})

    async def unregister(self, request: web.Request) -> web.Response:
        """``/unregister/``: remove a timerush timer and answer its remaining seconds."""
        try:
            key = parse_key(parse_object(await request.read()))
        except ProtocolError as exc:
            return _reply(RET_INVALID, msg=str(exc))
        try:
            if (await self.service.get(key)).action != ACTION:
                raise ForsunPlanError(ErrorCode.NOT_FOUND, f"{key!r} is not a timerush timer")
            plan = await self.service.remove(key)
        except ForsunPlanError as exc:
            return _reply(exc.code, msg=exc.message)
        log.debug("timerush unregistered %s", key)
        return _reply(0, data={"ttl": remaining_seconds(plan, self.service.clock())})
