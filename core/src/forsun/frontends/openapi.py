"""The OpenAPI 3.1 description of the HTTP API, built from its route table.

:class:`Route` is one operation of the API: how it is described *and* the coroutine that
serves it. :mod:`forsun.frontends.http_server` serves exactly the routes of the table in
:mod:`forsun.frontends.http_routes` and :func:`document` describes exactly the same table,
so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import attrs

from ..errors import ErrorCode
from ..plan import (
    PLAN_FIELDS,
    STATUS_EXECUTING,
    STATUS_FAILED,
    STATUS_FINISHED,
    STATUS_WAITING,
)

OPENAPI_VERSION = "3.1.0"
#: Media type of a body holding one ``set`` line per line.
CRONTAB = "application/crontab"
JSON = "application/json"
#: Media type of a reply of one JSON value per line.
NDJSON = "application/x-ndjson"
#: Name of the bearer-token security scheme.
SECURITY_SCHEME = "bearerToken"


@attrs.frozen
class Param:
    """A query parameter."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False


@attrs.frozen
class Route:
    """One operation: ``method`` on ``path``, served by ``run(handler)`` whose result is the
    reply's ``data`` (or the whole reply, as JSON, when ``enveloped`` is false; or, when
    ``raw``, a ``(content_type, bytes)`` pair sent as it is).

    ``handler`` is the request's :class:`~forsun.frontends.http_server.ApiHandler`
    (``handler.service``, ``handler.get_query_argument``, ``handler.path_kwargs``, ...).
    A path ending in ``/{name}`` matches any rest of the URL, slashes included.
    """

    method: str
    path: str
    operation_id: str
    summary: str
    run: Callable[[Any], Awaitable[Any]]
    data: dict[str, Any]
    description: str = ""
    query: tuple[Param, ...] = ()
    #: Request body schema by media type; empty when the operation reads no body.
    body: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    enveloped: bool = True
    #: Needs the bearer token when the server has one (``--token``).
    authenticated: bool = True
    #: ``run`` returns ``(content_type, bytes)``; implies no envelope.
    raw: bool = False
    #: Media type of the reply when there is no envelope (a :class:`Streamed` result, or
    #: ``raw``), as the OpenAPI document declares it.
    media_type: str = JSON
    #: Further error replies by HTTP status (``{"404": "no such file"}``), each the envelope
    #: with a nonzero errcode, as a ``BadRequest(code, message, status)`` raised by ``run``.
    errors: dict[str, str] = attrs.field(factory=dict)

    @property
    def path_parameter(self) -> str | None:
        """Name of the trailing ``{name}`` segment of the path, or None."""
        last = self.path.rsplit("/", 1)[-1]
        return last[1:-1] if last.startswith("{") and last.endswith("}") else None


@attrs.frozen
class Streamed:
    """A route's result sent as it is produced: ``chunks`` of a body of type ``media``."""

    media: str
    chunks: AsyncIterator[bytes]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_INT = {"type": "integer"}
_FIELD_DOC = {
    "second": "delay: seconds of the interval; fixed time: 0-59 or -1 (any)",
    "minute": "delay: minutes of the interval; fixed time: 0-59 or -1 (any)",
    "hour": "delay: hours of the interval; fixed time: 0-23 or -1 (any)",
    "day": "delay: days of the interval; fixed time: day of month 1-31 or -1 (any)",
    "month": "delay: 30-day months of the interval; fixed time: 1-12 or -1 (any)",
    "week": "delay: weeks of the interval; fixed time: day of week, 0 or 7 = Sunday, "
            "1 = Monday ... 6 = Saturday, or -1 (any)",
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Plan": {
        "type": "object",
        "description": "A plan as stored (DESIGN 3.1 field names).",
        "required": list(PLAN_FIELDS),
        "properties": {
            "key": {"type": "string"},
            **{name: {**_INT, "description": doc} for name, doc in _FIELD_DOC.items()},
            "is_time_out": {"type": "boolean", "description": "true: delay plan"},
            "count": {**_INT, "description": "firings in all; 0 = forever"},
            "current_count": {**_INT, "description": "firings so far"},
            "status": {**_INT, "enum": [STATUS_WAITING, STATUS_EXECUTING, STATUS_FINISHED,
                                        STATUS_FAILED],
                       "description": "0 waiting, 1 executing; a finished plan kept for "
                                      "status_expried: 2 while its last action runs, then "
                                      "1 succeeded or -1 failed"},
            "next_time": {**_INT, "description": "next due second (unix seconds)"},
            "last_timeout": {**_INT, "description": "last fired due second (unix seconds)"},
            "created_time": {"type": "number", "description": "unix seconds"},
            "action": {"type": "string"},
            "params": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "PlanRequest": {
        "type": "object",
        "description": "A plan to create. Integer fields also accept strings of digits; "
                       "unknown members are ignored. A plan whose key exists replaces it.",
        "properties": {
            "key": {"type": "string", "description": "empty or absent: a generated key"},
            "seconds": {**_INT, "default": -1, "description": _FIELD_DOC["second"]},
            "second": {**_INT, "description": "the same as seconds"},
            **{name: {**_INT, "default": -1, "description": doc}
               for name, doc in _FIELD_DOC.items() if name != "second"},
            "count": {**_INT, "default": 0, "minimum": 0,
                      "description": "firings in all; 0 = forever"},
            "action": {"type": "string", "default": "shell"},
            "params": {"type": "object",
                       "additionalProperties": {"type": ["string", "number"]},
                       "description": "action parameters; numbers are turned into strings "
                                      "(one past 64 bits is refused: send it as a string)"},
        },
    },
    "ArrayPlanRequest": {
        "allOf": [ref("PlanRequest")],
        "properties": {"method": {"type": "string", "enum": ["createTimeout", "create"],
                                  "default": "createTimeout",
                                  "description": "an item of a JSON array sent to "
                                                 "/v1/plan: create makes a fixed-time "
                                                 "plan, createTimeout a delay plan, "
                                                 "whatever the HTTP method"}},
    },
    "BatchPlanRequest": {
        "allOf": [ref("PlanRequest")],
        "properties": {"is_time_out": {"type": "boolean", "default": False,
                                       "description": "true: delay plan (as PUT /v1/plan)"},
                       **{name: {**_INT, "description": f"with ?state=keep: {doc}"}
                          for name, doc in (("next_time", "next due second (required)"),
                                            ("current_count", "firings so far"),
                                            ("last_timeout", "last fired due second"))},
                       "created_time": {"type": "number",
                                        "description": "with ?state=keep: unix seconds"}},
    },
    "Crontab": {
        "type": "string",
        "pattern": r"(^|\n)[ \t]*[^#\s]",
        "description": "One plan per line in the forsun CLI syntax "
                       "`[set] KEY S M H D MON W ACTION 'PARAMS'` (a `*/N` field makes a "
                       "delay plan); blank lines and lines starting with # are skipped, "
                       "and at least one plan line is required.",
    },
    "Error": {
        "type": "object",
        "required": ["errcode", "errmsg", "data"],
        "properties": {
            "errcode": {"type": "integer", "enum": [int(code) for code in ErrorCode]},
            "errmsg": {"type": "string"},
            "data": {"type": "object"},
        },
    },
}

#: Error replies an operation may give besides 200, as ``components.responses``.
RESPONSES: dict[str, dict[str, Any]] = {
    name: {"description": text, "content": {JSON: {"schema": ref("Error")}}}
    for name, text in (
        ("BadBody", "400: the body cannot be used (invalid UTF-8 or JSON, empty, or not a "
                    "JSON object/array): errcode 1004 or 1007."),
        ("Unauthorized", "401: the server has a --token and the request lacks "
                         "`Authorization: Bearer TOKEN` or carries another token: "
                         "errcode 1001."),
        ("CrossSite", "403: a browser sent this change from a page of another site (its "
                      "Origin is not the server's, or Sec-Fetch-Site says cross-site or "
                      "same-site): errcode 1001."),
        ("TooLarge", "413: the body is larger than --http-max-body-size: errcode 1004."),
        ("Unexpected", "500: unexpected server error: errcode 1001 (details in the server "
                       "log, never in the reply)."),
    )
}


def _response(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def envelope(data: dict[str, Any]) -> dict[str, Any]:
    """Schema of a successful reply whose ``data`` has schema ``data``."""
    return {
        "type": "object",
        "required": ["errcode", "errmsg", "data"],
        "properties": {"errcode": {"const": 0}, "errmsg": {"const": ""}, "data": data},
    }


def _operation(route: Route) -> dict[str, Any]:
    if route.enveloped and not route.raw:
        ok = "errcode 0 and the result, or errcode 1001-1007 when the operation is refused"
        ok_schema = {"oneOf": [envelope(route.data), ref("Error")]}
    else:
        ok, ok_schema = "The result itself (no envelope)", route.data
    media = JSON if route.enveloped and not route.raw else route.media_type
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "responses": {
            "200": {"description": ok, "content": {media: {"schema": ok_schema}}},
            **({"400": _response("BadBody")} if route.body else {}),
            **({"401": _response("Unauthorized")} if route.authenticated else {}),
            **({"403": _response("CrossSite")}
               if route.method not in ("GET", "HEAD", "OPTIONS") else {}),
            "413": _response("TooLarge"),
            "500": _response("Unexpected"),
            **{status: {"description": text, "content": {JSON: {"schema": ref("Error")}}}
               for status, text in route.errors.items()},
        },
    }
    if route.description:
        operation["description"] = route.description
    if route.authenticated:
        # Either no credentials (a server without --token) or the bearer token.
        operation["security"] = [{}, {SECURITY_SCHEME: []}]
    parameters = [{"name": p.name, "in": "query", "required": p.required,
                   "schema": p.schema, "description": p.description} for p in route.query]
    if route.path_parameter:
        parameters.append({"name": route.path_parameter, "in": "path", "required": True,
                           "schema": {"type": "string"},
                           "description": "the rest of the path"})
    if parameters:
        operation["parameters"] = parameters
    if route.body:
        operation["requestBody"] = {
            "required": True,
            "content": {media: {"schema": schema} for media, schema in route.body.items()},
        }
    return operation


def document(routes: Iterable[Route], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "forsun HTTP API",
            "version": version,
            "description": "Every reply is `{\"errcode\": 0, \"errmsg\": \"\", \"data\": ...}`; "
                           "a refused operation answers 200 with errcode 1001-1007 "
                           "(1002 the time never arrives, 1003 not found, 1004 invalid or "
                           "not stored, 1005 not removed, 1006 unknown action, 1007 missing "
                           "argument). Request bodies are JSON whatever the Content-Type, "
                           f"except `{CRONTAB}`. An unknown path answers 404 and a method a "
                           "path does not take 405 (with `Allow`), both with errcode 1001. "
                           "A server started with --token answers 401 (errcode 1001) to "
                           "a request without `Authorization: Bearer TOKEN`.",
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS, "responses": RESPONSES,
                       "securitySchemes": {SECURITY_SCHEME: {
                           "type": "http", "scheme": "bearer",
                           "description": "the server's --token; required by every "
                                          "operation but ping and this document when the "
                                          "server has one"}}},
    }
