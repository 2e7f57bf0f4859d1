"""The HTTP API (DESIGN 3.3): its route table, the handler serving it and the server.

Every reply is ``{"errcode": 0, "errmsg": "", "data": ...}`` (only ``GET /v1/openapi.json``
answers with the bare document). HTTP statuses:

- 200: the operation ran: errcode 0, or 1001-1007 when the service refused it (as the
  original did, so clients that only read ``errcode`` keep working). Wrong JSON member types
  are 1004 naming the member (``[2].second: must be an integer``).
- 400: the body cannot be used at all: not UTF-8 or not JSON (1004), empty or without any
  plan (1007), not a JSON object or array (1004).
- 401: ``--token`` is set and the request lacks ``Authorization: Bearer TOKEN`` or carries
  another token (1001; ``WWW-Authenticate: Bearer``). ``GET /v1/ping`` and
  ``GET /v1/openapi.json`` need no token.
- 404 (unknown path), 405 (method not served there; ``Allow`` lists those that are): 1001.
- 413: the body is larger than ``--http-max-body-size`` (1004). When ``Content-Length``
  tells, the answer comes before the body is read; the connection is then closed.
- 500: an unexpected exception (1001); it is logged, its traceback is never sent.

Request bodies are JSON whatever the Content-Type, except ``application/crontab``: one
``set`` line per line (:func:`forsun.setline.parse_crontab`). Creating several plans (a
crontab body, a JSON array) is all or nothing: nothing is stored unless every plan is valid,
and the error names the bad line (``line 3: ...``) or item (``[2]: ...``). A storage failure
part way is the exception: the error then names the first plan not stored, those before it
are (see :meth:`forsun.service.Service.create_many`).

A big body is decoded, validated, stored and answered in slices, as jobs of the service's
:class:`~forsun.pacing.Pacer`, so that firing and other requests go on meanwhile.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import socket
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import tornado.httpserver
import tornado.httputil
import tornado.iostream
import tornado.web

from .. import __version__
from ..errors import ErrorCode, ForsunPlanError
from ..pacing import steps
from ..plan import Plan
from ..setline import parse_crontab
from . import jsonbody
from .openapi import CRONTAB, JSON, Param, Route, document, ref
from .security import token_accepted

if TYPE_CHECKING:
    from ..service import Service

log = logging.getLogger(__name__)

#: Defaults of the integer members of a plan request (the original HTTP API's).
_REQUEST_DEFAULTS = (("minute", -1), ("hour", -1), ("day", -1), ("month", -1), ("week", -1),
                     ("count", 0))
#: What a creation of several plans answers (``?reply=``): the plans, or only their keys.
REPLY_MODES = ("plans", "keys")
#: Largest ``timestamp`` of ``GET /v1/time``: 9999-12-31 23:59:59 UTC.
MAX_TIMESTAMP = 253_402_300_799
#: An integer sent as a string (bounded: Python refuses to convert very long digit strings).
_INT_TEXT = re.compile(r"\s*[-+]?\d{1,30}\s*")


class BadRequest(ForsunPlanError):
    """A request body that cannot be used at all; answered with HTTP ``status``."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(code, message)
        self.status = status


# -- request bodies --------------------------------------------------------------------------


def plan_from_json(obj: Any, *, is_time_out: bool, where: str = "") -> Plan:
    """The plan a JSON request object describes (members as in DESIGN 3.3; ``seconds`` or
    ``second``). Raises 1004 naming the member, prefixed by ``where``, for a wrong type.

    The plan owns ``obj``'s params map when it is already a map of strings (bulk creation
    calls this for every plan, so the common case is one type check per member)."""
    if type(obj) is dict:
        get = obj.get
        key, action, params = get("key"), get("action", "shell"), get("params")
        second = get("seconds", -1) if "second" not in obj else None
        minute, hour, day, month, week, count = (get("minute", -1), get("hour", -1),
                                                 get("day", -1), get("month", -1),
                                                 get("week", -1), get("count", 0))
        if (type(key) is str and type(action) is str and type(params) is dict
                and type(second) is type(minute) is type(hour) is type(day) is type(month)
                is type(week) is type(count) is int):
            for value in params.values():
                if type(value) is not str:
                    break
            else:
                return Plan(key, second, minute, hour, day, month, week, is_time_out, count,
                            action=action, params=params)
    return _converted_plan(obj, is_time_out, where)


def _converted_plan(obj: Any, is_time_out: bool, where: str) -> Plan:
    """:func:`plan_from_json` for members that need a default, a conversion (``"90"``,
    ``3.0``, a number param) or an error naming them."""
    if not isinstance(obj, dict):
        raise ForsunPlanError.invalid(where or "body", "must be a JSON object")
    get = obj.get
    values = []
    for member, default in _REQUEST_DEFAULTS:
        raw = get(member)
        if raw is None:
            values.append(default)
        else:
            values.append(raw if type(raw) is int else _integer(raw, _name(where, member)))
    second = _second(get("seconds"), get("second"), where)
    minute, hour, day, month, week, count = values
    key, action, params = get("key"), get("action"), get("params")
    return Plan(key if type(key) is str else _string(key, "", _name(where, "key")),
                second, minute, hour, day, month, week, is_time_out, count,
                action=action if type(action) is str else _string(action, "shell",
                                                                  _name(where, "action")),
                params=_params(params, _name(where, "params")))


def _second(seconds: Any, second: Any, where: str) -> int:
    """The ``seconds`` or ``second`` member (-1 without either; 1004 if they differ)."""
    if second is None:
        if seconds is None:
            return -1
        return seconds if type(seconds) is int else _integer(seconds, _name(where, "seconds"))
    value = _integer(second, _name(where, "second"))
    if seconds is not None and _integer(seconds, _name(where, "seconds")) != value:
        raise ForsunPlanError.invalid(_name(where, "second"),
                                      "differs from seconds; send one of them")
    return value


def _name(where: str, member: str) -> str:
    return f"{where}.{member}" if where else member


def _integer(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise ForsunPlanError.invalid(field, "must be an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return int(value)
    raise ForsunPlanError.invalid(field, f"must be an integer, not {_show(value)}")


def _string(value: Any, default: str, field: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise ForsunPlanError.invalid(field, f"must be a string, not {_show(value)}")
    return value


#: A float param this large may be an integer the JSON reader rounded (orjson keeps
#: integers exact only in [-2**63, 2**64)); smaller floats are kept as their str().
_EXACT_FLOAT_LIMIT = float(1 << 63)


def _params(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ForsunPlanError.invalid(field, f"must be a JSON object, not {_show(value)}")
    for item in value.values():
        if type(item) is not str:
            break
    else:
        return value  # the usual case: already a map of strings
    params = {}
    for key, item in value.items():
        if isinstance(item, str):
            params[key] = item
        elif type(item) is float and abs(item) >= _EXACT_FLOAT_LIMIT:
            # the JSON reader gives integers past 64 bits as floats: the digits are gone
            raise ForsunPlanError.invalid(f"{field}.{key}", "a number this large loses digits; "
                                                           "send it as a string")
        elif isinstance(item, int | float) and not isinstance(item, bool):
            params[key] = str(item)
        else:
            raise ForsunPlanError.invalid(f"{field}.{key}", f"must be a string, not {_show(item)}")
    return params


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _boolean(value: Any, field: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise ForsunPlanError.invalid(field, f"must be true or false, not {_show(value)}")


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
    if handler.is_crontab():
        return await _create_crontab(handler)
    body = await handler.json_body()
    if isinstance(body, list):
        return await _create_many(handler, await _plans_from_json(
            handler, _non_empty(body), lambda item, where: is_time_out))
    if not isinstance(body, dict):
        raise BadRequest(ErrorCode.STORE_FAILED, "body: must be a JSON object or array")
    handler.reply_mode()  # refuse a bad ?reply= even where one plan answers itself
    return (await handler.service.create(plan_from_json(body, is_time_out=is_time_out))).to_dict()


async def create_batch(handler: ApiHandler) -> Any:
    if handler.is_crontab():
        return await _create_crontab(handler)
    body = await handler.json_body()
    if not isinstance(body, list):
        raise BadRequest(ErrorCode.STORE_FAILED, "body: must be a JSON array of plans")
    return await _create_many(handler, await _plans_from_json(handler, _non_empty(body),
                                                              _item_is_time_out))


def _item_is_time_out(item: Any, where: str) -> bool:
    flag = item.get("is_time_out") if isinstance(item, dict) else None
    return flag if type(flag) is bool else _boolean(flag, _name(where, "is_time_out"))


async def _plans_from_json(handler: ApiHandler, items: list[Any],
                           is_time_out: Callable[[Any, str], bool]) -> list[Plan]:
    """The plans of a JSON array (a job of the service's pacer); an error names the item
    (``[2].second: ...``)."""
    plans: list[Plan] = []
    async with handler.service.pacer.job() as job:
        for part in steps(items):
            try:
                plans += [plan_from_json(item, is_time_out=is_time_out(item, ""))
                          for item in part]
            except ForsunPlanError:
                for index, item in enumerate(part, len(plans)):  # again, naming the item
                    where = f"[{index}]"
                    plan_from_json(item, is_time_out=is_time_out(item, where), where=where)
                raise
            await job.pause()
    return plans


def _non_empty(plans: list[Any]) -> list[Any]:
    if not plans:
        raise BadRequest(ErrorCode.MISSING_ARGUMENT, "body: the array holds no plan")
    return plans


async def _create_crontab(handler: ApiHandler) -> Any:
    numbers: list[int] = []
    plans: list[Plan] = []
    async with handler.service.pacer.job() as job:
        for part in steps(parse_crontab(handler.body_text())):
            numbers += [number for number, _ in part]
            plans += [plan for _, plan in part]
            await job.pause()
    if not plans:
        raise BadRequest(ErrorCode.MISSING_ARGUMENT, "body: the crontab holds no plan line")
    return await _create_many(handler, plans, label=lambda index: f"line {numbers[index]}")


def _index_label(index: int) -> str:
    return f"[{index}]"


async def _create_many(handler: ApiHandler, plans: list[Plan],
                       label: Callable[[int], str] = _index_label) -> Any:
    """Create the plans (:meth:`forsun.service.Service.create_many`); an error names the
    plan at fault by ``label(index)`` (default ``[index]``). Answers the plans (encoded in
    slices), or their keys with ``?reply=keys``."""
    keys_only = handler.reply_mode() == "keys"
    service = handler.service
    created = await service.create_many(plans, owned=True, label=label)
    if keys_only:
        return [plan.key for plan in created]
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


async def info(handler: ApiHandler) -> dict[str, str]:
    return await handler.service.info()


async def openapi(handler: ApiHandler) -> dict[str, Any]:
    return openapi_document()


# -- the route table -------------------------------------------------------------------------

_PLANS = {"type": "array", "items": ref("Plan")}
_KEY = Param("key", {"type": "string"}, "the plan's key", required=True)
_CREATE_DOC = ("A JSON object creates one plan and answers it; a JSON array creates several, "
               "all or none, and answers the list. A body of type application/crontab holds "
               "one set line per line (a */N field makes that line a delay plan, whatever "
               "the method) and answers the list. Several plans are stored 1000 at a time: "
               "if storing fails part way, the error names the first plan not stored and "
               "those before it are stored.")


_KEYS = {"type": "array", "items": {"type": "string"}}
_REPLY = Param("reply", {"type": "string", "enum": list(REPLY_MODES), "default": "plans"},
               "what creating several plans (a JSON array, a crontab body) answers: the "
               "plans, or only their keys in order (smaller and faster for bulk loads); one "
               "JSON object always answers its plan")


def _create_route(method: str, operation_id: str, summary: str, run: Any) -> Route:
    return Route(method, "/v1/plan", operation_id, summary, run, query=(_REPLY,),
                 data={"oneOf": [ref("Plan"), _PLANS, _KEYS]}, description=_CREATE_DOC,
                 body={JSON: {"oneOf": [ref("PlanRequest"),
                                        {"type": "array", "items": ref("PlanRequest"),
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
          create_batch, data={"oneOf": [_PLANS, _KEYS]}, query=(_REPLY,),
          description="Each item says with is_time_out whether it is a delay plan. The "
                      "plans are stored 1000 at a time: if storing fails part way, the error "
                      "names the first plan not stored and those before it are stored.",
          body={JSON: {"type": "array", "items": ref("BatchPlanRequest"), "minItems": 1},
                CRONTAB: ref("Crontab")}),
    Route("GET", "/v1/time", "getTime", "Plans due at a second", plans_at,
          query=(Param("timestamp", {"type": "integer", "default": 0, "minimum": 0,
                                     "maximum": MAX_TIMESTAMP},
                       "unix seconds; 0 or absent: the current second"),),
          data={"type": "object", "required": ["plans", "current_timestamp"],
                "properties": {"plans": _PLANS,
                               "current_timestamp": {"type": "integer",
                                                     "description": "the server's second"}}}),
    Route("GET", "/v1/keys", "getKeys", "Keys starting with a prefix, sorted", keys,
          query=(Param("prefix", {"type": "string", "default": ""}, "literal key prefix"),),
          data={"type": "array", "items": {"type": "string"}}),
    Route("GET", "/v1/info", "info", "The figures of the RPC info()", info,
          data={"type": "object", "additionalProperties": {"type": "string"}}),
    Route("GET", "/v1/openapi.json", "openapi", "This description", openapi,
          data={"type": "object"}, enveloped=False, authenticated=False),
)


@functools.cache
def openapi_document() -> dict[str, Any]:
    return document(ROUTES, __version__)


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

    async def serve(self) -> None:
        """Run the route of this method (prepare() answered every request without one)."""
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
            if route.enveloped:
                self.reply(200, 0, "", result)
            else:
                self._errcode = 0
                self.set_header("Content-Type", "application/json; charset=UTF-8")
                self.finish(json.dumps(result, ensure_ascii=False))

    get = post = put = delete = serve

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
        value = self.get_query_argument(name, "")
        if not value:
            return 0
        if not _INT_TEXT.fullmatch(value):
            raise ForsunPlanError.invalid(name, f"must be an integer, not {value!r}")
        number = int(value)
        if not low <= number <= high:
            raise ForsunPlanError.invalid(name, f"{number} is outside [{low}, {high}]")
        return number

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
        try:
            return bytes(self.body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BadRequest(ErrorCode.STORE_FAILED,
                             f"body: not UTF-8 ({exc.reason} at byte {exc.start})") from None

    async def json_body(self) -> Any:
        """The body's JSON value. An array is decoded in slices, as a job of the service's
        pacer; a body orjson refuses is decoded whole, by :mod:`json` if need be."""
        slices = jsonbody.array_slices(self.body)
        if slices is not None:
            items: list[Any] = []
            try:
                async with self.service.pacer.job() as job:
                    for part in slices:
                        items += part
                        await job.pause()
                return items
            except jsonbody.NotParsed:
                pass  # the rest below reads it whole or explains what is wrong
        try:
            return jsonbody.parse(self.body)
        except jsonbody.NotParsed:
            pass  # json may still read it (a BOM, NaN) or explain what is wrong
        text = self.body_text()
        if not text.strip():
            raise BadRequest(ErrorCode.MISSING_ARGUMENT, "body: a JSON plan is required")
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise BadRequest(ErrorCode.STORE_FAILED, f"body: invalid JSON: {exc}") from None


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
    """The tornado application serving exactly :data:`ROUTES`."""
    by_path: dict[str, dict[str, Route]] = {}
    for route in ROUTES:
        by_path.setdefault(route.path, {})[route.method] = route
    args = {"service": service, "max_body_size": max_body_size}
    handlers = [(re.escape(path), ApiHandler, {**args, "routes": routes})
                for path, routes in by_path.items()]
    return tornado.web.Application(handlers, default_handler_class=ApiHandler,
                                   default_handler_args={**args, "routes": None},
                                   log_function=_log_request)


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
