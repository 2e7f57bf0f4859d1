"""The operations of the HTTP API (DESIGN 3.3) and its route table.

Each operation is a coroutine that takes the request's handler
(:class:`~.http_server.ApiHandler`) and returns the reply's ``data``; :data:`ROUTES` maps
method and path to operations and describes them (:mod:`.openapi`), so that the server and
its OpenAPI document cannot drift apart.

Creating several plans (a crontab body, a JSON array) is all or nothing: nothing is stored
unless every plan is valid, and the error names the bad line (``line 3: ...``) or item
(``[2]: ...``). A storage failure part way is the exception: the error then names the first
plan not stored, those before it are (see :meth:`forsun.service.Service.create_many`). A
big creation is validated, stored and answered in slices, as jobs of the service's
:class:`~forsun.pacing.Pacer`, so that firing and other requests go on meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pluggy

from .. import __version__
from ..errors import ErrorCode, ForsunPlanError
from ..pacing import steps
from ..plan import Plan
from ..plugins import PluginError, get_plugin_manager
from . import jsonbody
from .http_decoding import (
    BadRequest,
    is_time_out_member,
    method_member,
    plan_from_json,
    plans_from_crontab,
    plans_from_json,
)
from .openapi import CRONTAB, JSON, NDJSON, Param, Route, Streamed, document, ref

if TYPE_CHECKING:
    from .http_server import ApiHandler

#: What a creation of several plans answers (``?reply=``): the plans, or only their keys.
REPLY_MODES = ("plans", "keys")
#: What ``POST /v1/plans?state=`` takes: new plans, or plans restored with their state.
STATE_MODES = ("new", "keep")
#: Plans read from the store per page of ``GET /v1/plans`` (the reply is written and
#: flushed per page, so neither side holds more).
EXPORT_PAGE = 1000
#: Largest ``timestamp`` of ``GET /v1/time``: 9999-12-31 23:59:59 UTC.
MAX_TIMESTAMP = 253_402_300_799


# -- operations (each returns the reply's data) ----------------------------------------------


async def ping(handler: ApiHandler) -> dict[str, Any]:
    return {}


async def get_plan(handler: ApiHandler) -> dict[str, Any]:
    return (await handler.service.get(handler.required_argument("key"))).to_dict()


async def remove_plan(handler: ApiHandler) -> dict[str, Any]:
    return (await handler.service.remove(handler.required_argument("key"))).to_dict()


async def create_fixed(handler: ApiHandler) -> Any:
    return await _create(handler, is_time_out=False)


async def create_delay(handler: ApiHandler) -> Any:
    return await _create(handler, is_time_out=True)


async def _create(handler: ApiHandler, *, is_time_out: bool) -> Any:
    """``/v1/plan``: a JSON object is a plan of the HTTP method's kind; a JSON array's items
    are delay plans unless their ``method`` is ``create`` (whatever the HTTP method), and
    an array or crontab body of one plan answers that plan, as in the original."""
    if handler.is_crontab():
        return await _create_crontab(handler, one_as_itself=True)
    body = await handler.json_body()
    if isinstance(body, list):
        return await _create_many(handler, await plans_from_json(
            _non_empty(body), handler.service.pacer, method_member), one_as_itself=True)
    if not isinstance(body, dict):
        raise BadRequest(ErrorCode.STORE_FAILED, "body: must be a JSON object or array")
    handler.reply_mode()  # refuse a bad ?reply= even where one plan answers itself
    return (await handler.service.create(plan_from_json(body, is_time_out=is_time_out))).to_dict()


async def create_batch(handler: ApiHandler) -> Any:
    keep_state = handler.state_mode() == "keep"
    if handler.is_crontab():
        if keep_state:
            raise ForsunPlanError.invalid("state", "keep: a crontab carries no state (send "
                                                   "the plans as JSON)")
        return await _create_crontab(handler)
    body = await handler.json_body()
    if not isinstance(body, list):
        raise BadRequest(ErrorCode.STORE_FAILED, "body: must be a JSON array of plans")
    plans = await plans_from_json(_non_empty(body), handler.service.pacer, is_time_out_member,
                                  keep_state=keep_state)
    # The decoded items are not needed past here: freed now, the memory they held takes
    # the records being stored, rather than staying behind as a hole (bench "memory").
    del body
    return await _create_many(handler, plans, keep_state=keep_state)


def _non_empty(plans: list[Any]) -> list[Any]:
    if not plans:
        raise BadRequest(ErrorCode.MISSING_ARGUMENT, "body: the array holds no plan")
    return plans


async def _create_crontab(handler: ApiHandler, *, one_as_itself: bool = False) -> Any:
    numbers, plans = await plans_from_crontab(handler.body_text(), handler.service.pacer)
    if not plans:
        raise BadRequest(ErrorCode.MISSING_ARGUMENT, "body: the crontab holds no plan line")
    return await _create_many(handler, plans, label=lambda index: f"line {numbers[index]}",
                              one_as_itself=one_as_itself)


def _index_label(index: int) -> str:
    return f"[{index}]"


async def _create_many(handler: ApiHandler, plans: list[Plan],
                       label: Callable[[int], str] = _index_label, *,
                       one_as_itself: bool = False, keep_state: bool = False) -> Any:
    """Create the plans (:meth:`forsun.service.Service.create_many`); an error names the
    plan at fault by ``label(index)`` (default ``[index]``). Answers the plans (encoded in
    slices), or their keys with ``?reply=keys``; with ``one_as_itself`` a single plan is
    answered as itself, not as a list of one (the keys stay a list)."""
    keys_only = handler.reply_mode() == "keys"
    service = handler.service
    created = await service.create_many(plans, owned=True, label=label,
                                        keep_state=keep_state)
    if keys_only:
        return [plan.key for plan in created]
    if one_as_itself and len(created) == 1:
        return created[0].to_dict()
    parts = []
    async with service.pacer.job() as job:  # 100 000 plans take 0.2 s to encode
        for part in steps(created):
            parts.append(jsonbody.dumps([plan.to_dict() for plan in part])[1:-1])
            await job.pause()
    return jsonbody.Fragment(b"[" + b",".join(parts) + b"]")


async def plans_at(handler: ApiHandler) -> dict[str, Any]:
    timestamp = handler.integer_argument("timestamp", 0, MAX_TIMESTAMP)
    now = math.floor(handler.service.clock())
    plans = await handler.service.plans_at(timestamp or now)
    return {"plans": [plan.to_dict() for plan in plans], "current_timestamp": now}


async def keys(handler: ApiHandler) -> list[str]:
    return await handler.service.keys(handler.get_query_argument("prefix", "", strip=False))


async def export_plans(handler: ApiHandler) -> Streamed:
    """Every plan under ``?prefix=``, one JSON object per line, read a page at a time."""
    prefix = handler.get_query_argument("prefix", "", strip=False)

    async def lines() -> AsyncIterator[bytes]:
        async for page in handler.service.plan_pages(prefix, EXPORT_PAGE):
            yield b"".join(jsonbody.dumps(plan.to_dict()) + b"\n" for plan in page)

    return Streamed(NDJSON, lines())


async def info(handler: ApiHandler) -> dict[str, str]:
    return await handler.service.info()


async def openapi(handler: ApiHandler) -> dict[str, Any]:
    return handler.application.settings["openapi"]


# -- the route table -------------------------------------------------------------------------

_PLANS = {"type": "array", "items": ref("Plan")}
_KEY = Param("key", {"type": "string"}, "the plan's key", required=True)
_CREATE_DOC = ("A JSON object creates one plan and answers it; a JSON array creates several, "
               "all or none, and answers the list. An array item is a delay plan unless its "
               "method member is \"create\", whatever the HTTP method (as in the original "
               "forsun). A body of type application/crontab holds one set line per line (a "
               "*/N field makes that line a delay plan, whatever the method) and answers the "
               "list. An array or crontab body of one plan answers that plan. Several plans "
               "are stored 1000 at a time: if storing fails part way, the error names the "
               "first plan not stored and those before it are stored.")


_KEYS = {"type": "array", "items": {"type": "string"}}
_STATE = Param("state", {"type": "string", "enum": list(STATE_MODES), "default": "new"},
               "new: each plan starts afresh (next_time from now, counts 0); keep: each is "
               "restored with the schedule state it carries (next_time, required, "
               "current_count, last_timeout, created_time), as GET /v1/plans wrote it")
_REPLY = Param("reply", {"type": "string", "enum": list(REPLY_MODES), "default": "plans"},
               "what creating several plans (a JSON array, a crontab body) answers: the "
               "plans, or only their keys in order (smaller and faster for bulk loads); one "
               "JSON object always answers its plan")


def _create_route(method: str, operation_id: str, summary: str, run: Any) -> Route:
    return Route(method, "/v1/plan", operation_id, summary, run, query=(_REPLY,),
                 data={"oneOf": [ref("Plan"), _PLANS, _KEYS]}, description=_CREATE_DOC,
                 body={JSON: {"oneOf": [ref("PlanRequest"),
                                        {"type": "array", "items": ref("ArrayPlanRequest"),
                                         "minItems": 1}]},
                       CRONTAB: ref("Crontab")})


ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/ping", "ping", "Check that the server answers", ping,
          data={"type": "object"}, authenticated=False),
    Route("GET", "/v1/plan", "getPlan", "Read a plan, with its status", get_plan,
          data=ref("Plan"), query=(_KEY,)),
    _create_route("POST", "createPlan", "Create fixed-time plans (cron-like match)",
                  create_fixed),
    _create_route("PUT", "createTimeoutPlan", "Create delay plans (fire after an interval)",
                  create_delay),
    Route("DELETE", "/v1/plan", "removePlan", "Remove a plan and answer it", remove_plan,
          data=ref("Plan"), query=(_KEY,)),
    Route("POST", "/v1/plans", "createPlans", "Create many plans at once, all or none",
          create_batch, data={"oneOf": [_PLANS, _KEYS]}, query=(_REPLY, _STATE),
          description="Each item says with is_time_out whether it is a delay plan. The "
                      "plans are stored 1000 at a time: if storing fails part way, the error "
                      "names the first plan not stored and those before it are stored.",
          body={JSON: {"type": "array", "items": ref("BatchPlanRequest"), "minItems": 1},
                CRONTAB: ref("Crontab")}),
    Route("GET", "/v1/plans", "exportPlans", "Every plan, one JSON object per line",
          export_plans, data=ref("Plan"), enveloped=False, media_type=NDJSON,
          query=(Param("prefix", {"type": "string", "default": ""}, "literal key prefix"),),
          description="Streams the plans whose key starts with prefix as NDJSON (one Plan "
                      "per line, schedule state included: what POST /v1/plans?state=keep "
                      "takes back), read and sent 1000 at a time. A failure part way "
                      "aborts the chunked reply, so a client never mistakes a cut stream "
                      "for a whole one."),
    Route("GET", "/v1/time", "getTime", "Plans due at a second", plans_at,
          query=(Param("timestamp", {"type": "integer", "default": 0, "minimum": 0,
                                     "maximum": MAX_TIMESTAMP},
                       "unix seconds; 0 or absent: the current second"),),
          data={"type": "object", "required": ["plans", "current_timestamp"],
                "properties": {"plans": _PLANS,
                               "current_timestamp": {"type": "integer",
                                                     "description": "the server's second"}}}),
    Route("GET", "/v1/keys", "getKeys", "Keys starting with a prefix, sorted", keys,
          query=(Param("prefix", {"type": "string", "default": ""},
                       "key prefix; trailing blanks and * are ignored, so * lists every "
                       "key"),),
          data={"type": "array", "items": {"type": "string"}}),
    Route("GET", "/v1/info", "info", "The figures of the RPC info()", info,
          data={"type": "object", "additionalProperties": {"type": "string"}}),
    Route("GET", "/v1/openapi.json", "openapi", "This description", openapi,
          data={"type": "object"}, enveloped=False, authenticated=False),
)


def all_routes(pm: pluggy.PluginManager) -> tuple[Route, ...]:
    """:data:`ROUTES` and the routes plugins add (``register_routes``), in that order.
    :class:`~forsun.plugins.PluginError` naming both when a method and path is served
    twice."""
    owners = {(route.method, route.path): "forsun" for route in ROUTES}
    added: list[Route] = []
    for impl in pm.hook.register_routes.get_hookimpls():

        def register(route: Route, _plugin: str = impl.plugin_name) -> None:
            if not isinstance(route, Route):
                raise PluginError(f"plugin {_plugin!r} registered {route!r}, not a Route")
            first = owners.get((route.method, route.path))
            if first is not None:
                raise PluginError(f"route {route.method} {route.path} is registered by "
                                  f"both {first!r} and {_plugin!r}; block one of them")
            owners[route.method, route.path] = _plugin
            added.append(route)

        impl.function(**{arg: register for arg in impl.argnames})
    return (*ROUTES, *added)


def openapi_document(pm: pluggy.PluginManager | None = None) -> dict[str, Any]:
    """The document of the routes served with the plugins of ``pm`` (default: the
    built-ins and installed plugins, as forsund loads them)."""
    return document(all_routes(pm or get_plugin_manager()), __version__)
