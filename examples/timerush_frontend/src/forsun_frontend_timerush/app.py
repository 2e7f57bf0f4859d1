"""The timerush protocol's aiohttp application (see :mod:`.frontend` for the protocol).

Imported by :meth:`TimerushFrontend.start` only, so a forsund with the front end off never
imports ``aiohttp.web``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from forsun.errors import ErrorCode, ForsunPlanError

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

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(service: Service) -> web.Application:
    """The application serving ``/register/`` and ``/unregister/`` for ``service``."""
    api = TimerushApi(service)
    app = web.Application(middlewares=[_json_errors])
    for path, handler in (("/register", api.register), ("/unregister", api.unregister)):
        app.router.add_post(path, handler)
        app.router.add_post(f"{path}/", handler)
    return app


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


class TimerushApi:
    """The two operations, on the :class:`~forsun.service.Service` API only."""

    def __init__(self, service: Service) -> None:
        self.service = service

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
        """``/unregister/``: remove a timerush timer and answer its remaining seconds; a
        key that is no pending timerush timer (unknown, already fired, or a plan of another
        action, which is left alone) answers ``ttl`` 0, as timerush did."""
        try:
            key = parse_key(parse_object(await request.read()))
        except ProtocolError as exc:
            return _reply(RET_INVALID, msg=str(exc))
        try:
            if (await self.service.get(key)).action != ACTION:
                return _reply(0, data={"ttl": 0})
            plan = await self.service.remove(key)
        except ForsunPlanError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                return _reply(0, data={"ttl": 0})
            return _reply(exc.code, msg=exc.message)
        log.debug("timerush unregistered %s", key)
        return _reply(0, data={"ttl": remaining_seconds(plan, self.service.clock())})
