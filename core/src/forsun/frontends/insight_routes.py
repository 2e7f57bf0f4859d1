"""The operator's HTTP routes (built-in plugin ``http_insight``, added through
``register_routes`` like any plugin's): metrics, overview, nodes, what is due, a plan's next
occurrences, recent outcomes, the failures list and what to do with it, fire now. They
call :class:`forsun.insight.Insight`; :mod:`forsun.client` and the ``forsun`` CLI use
them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ErrorCode, ForsunPlanError
from ..hookspecs import hookimpl
from ..insight import DUE_SOON_SECONDS
from ..plan import MAX_KEY_BYTES
from .http_decoding import BadRequest, query_integer
from .openapi import JSON, Param, Route, ref

if TYPE_CHECKING:
    from .http_server import ApiHandler

#: Largest ``seconds`` of ``GET /v1/due``: a day.
MAX_DUE_SECONDS = 86_400
MAX_LIMIT = 10_000


def _int(handler: ApiHandler, name: str, default: int, low: int, high: int) -> int:
    text = handler.get_query_argument(name, "")
    return query_integer(name, text, low, high) if text else default


async def metrics(handler: ApiHandler) -> tuple[str, bytes]:
    from ..metrics import CONTENT_TYPE  # prometheus-client: not at plugin loading

    return CONTENT_TYPE, await handler.service.insight.metrics_text()


async def overview(handler: ApiHandler) -> dict[str, Any]:
    return await handler.service.insight.overview()


async def nodes(handler: ApiHandler) -> list[dict[str, Any]]:
    return await handler.service.insight.nodes()


async def due(handler: ApiHandler) -> list[dict[str, Any]]:
    plans = await handler.service.insight.due(
        _int(handler, "seconds", DUE_SOON_SECONDS, 0, MAX_DUE_SECONDS),
        _int(handler, "limit", 500, 0, MAX_LIMIT))
    return [plan.to_dict() for plan in plans]


async def next_times(handler: ApiHandler) -> list[int]:
    return await handler.service.insight.next_times(handler.required_argument("key"),
                                                    _int(handler, "n", 5, 0, 100))


async def history(handler: ApiHandler) -> list[dict[str, Any]]:
    key = handler.get_query_argument("key", "", strip=False) or None
    outcomes = handler.service.insight.history(key, _int(handler, "limit", 50, 0, MAX_LIMIT))
    return [outcome.to_dict() for outcome in outcomes]


async def failures(handler: ApiHandler) -> dict[str, Any]:
    page = await handler.service.insight.failures(
        prefix=handler.get_query_argument("prefix", "", strip=False),
        action=handler.get_query_argument("action", ""),
        limit=_int(handler, "limit", 100, 0, MAX_LIMIT),
        offset=_int(handler, "offset", 0, 0, 1 << 31))
    return page.to_dict()


async def _selection(handler: ApiHandler) -> list[str] | None:
    """The failures a body selects: ``{"ids": [...]}`` or ``{"all": true}`` (None)."""
    body = await handler.json_body()
    if not isinstance(body, dict):
        raise BadRequest(ErrorCode.STORE_FAILED, "body: must be a JSON object")
    if body.get("all") is True:
        return None
    ids = body.get("ids")
    if ids is None:
        raise ForsunPlanError(ErrorCode.MISSING_ARGUMENT, 'body: give "ids" or "all": true')
    if not isinstance(ids, list) or not all(isinstance(id_, str) for id_ in ids):
        raise ForsunPlanError.invalid("ids", "must be an array of strings")
    return ids


async def retry(handler: ApiHandler) -> dict[str, int]:
    return {"retried": await handler.service.insight.retry(await _selection(handler))}


async def discard(handler: ApiHandler) -> dict[str, int]:
    return {"discarded": await handler.service.insight.discard(await _selection(handler))}


async def fire(handler: ApiHandler) -> dict[str, bool]:
    await handler.service.insight.fire(handler.required_argument("key"))
    return {"fired": True}


# -- the routes ------------------------------------------------------------------------------

_INT = {"type": "integer"}
_NUMBER = {"type": "number"}
_KEY = Param("key", {"type": "string", "maxLength": MAX_KEY_BYTES}, "the plan's key",
             required=True)
_LIMIT = Param("limit", {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT},
               "most items answered")
_OUTCOME = {
    "type": "object",
    "required": ["due", "key", "action", "attempt", "start", "duration", "ok", "error",
                 "node"],
    "properties": {"due": _INT, "key": {"type": "string"}, "action": {"type": "string"},
                   "attempt": {**_INT, "description": "0: the first"},
                   "start": {**_NUMBER, "description": "unix seconds"},
                   "duration": {**_NUMBER, "description": "seconds"},
                   "ok": {"type": "boolean"}, "error": {"type": ["string", "null"]},
                   "node": {"type": "string"}},
}
_FAILURE = {
    "type": "object",
    "required": ["id", "key", "due", "action", "attempts", "error", "failed_at", "node",
                 "plan"],
    "properties": {"id": {"type": "string", "description": "DUE:KEY"},
                   "key": {"type": "string"}, "due": _INT, "action": {"type": "string"},
                   "attempts": _INT, "error": {"type": "string"},
                   "failed_at": {**_NUMBER, "description": "unix seconds"},
                   "node": {"type": "string"}, "plan": ref("Plan")},
}
_SELECTION = {JSON: {"type": "object", "description": 'the failures: "ids", or "all": true',
                     "properties": {"ids": {"type": "array", "items": {"type": "string"}},
                                    "all": {"type": "boolean"}}}}
_FAILURES_DOC = ("Needs a store with the failures capability (mem, redis); another "
                 "answers errcode 1001.")


def _count(name: str) -> dict[str, Any]:
    return {"type": "object", "required": [name], "properties": {name: _INT}}


ROUTES: tuple[Route, ...] = (
    Route("GET", "/metrics", "metrics", "Prometheus metrics of this node", metrics,
          data={"type": "string"}, raw=True, media_type="text/plain",
          description="The Prometheus text exposition format (no envelope); names and "
                      "labels are in docs/operations.md. With --no-metrics only the "
                      "process figures."),
    Route("GET", "/v1/overview", "overview", "How this node is doing", overview,
          data={"type": "object", "properties": {
              "time": _NUMBER, "timezone": {"type": "string"}, "node": {"type": "string"},
              "plans": _INT, "in_flight": _INT, "queued": _INT, "due_next_60s": _INT,
              "failures": _INT, "firings_total": _INT, "firings_failed_total": _INT,
              "lateness_ms": {"type": "object", "properties": {"p50": _NUMBER,
                                                               "p99": _NUMBER}},
              "version": {"type": "string"}}}),
    Route("GET", "/v1/nodes", "nodes", "The nodes sharing the store", nodes,
          data={"type": "array", "items": {"type": "object", "properties": {
              "node": {"type": "string"}, "alive_until": {"type": ["number", "null"]},
              "self": {"type": "boolean"}, "in_flight": _INT}}}),
    Route("GET", "/v1/due", "due", "Plans due soon, in order", due,
          query=(Param("seconds", {"type": "integer", "minimum": 0,
                                   "maximum": MAX_DUE_SECONDS, "default": DUE_SOON_SECONDS},
                       "from the current second to this many seconds after it"),
                 _LIMIT),
          data={"type": "array", "items": ref("Plan")}),
    Route("GET", "/v1/plan/next", "planNext", "A plan's next due seconds", next_times,
          query=(_KEY, Param("n", {"type": "integer", "minimum": 0, "maximum": 100,
                                   "default": 5}, "how many")),
          data={"type": "array", "items": _INT}),
    Route("GET", "/v1/history", "history", "Recent firing outcomes on this node",
          history, query=(Param("key", {"type": "string"}, "only this plan's (absent: all)"),
                          _LIMIT),
          data={"type": "array", "items": _OUTCOME},
          description="Newest first, from the node's ring of --history-size outcomes; "
                      "each attempt is one outcome."),
    Route("GET", "/v1/failures", "failures", "Occurrences that failed every attempt",
          failures, description=_FAILURES_DOC,
          query=(Param("prefix", {"type": "string"}, "keys starting with this"),
                 Param("action", {"type": "string"}, "only this action's"), _LIMIT,
                 Param("offset", {"type": "integer", "minimum": 0}, "skip this many")),
          data={"type": "object", "required": ["total", "dropped", "items"],
                "properties": {"total": {**_INT, "description": "failures matching"},
                               "dropped": {**_INT, "description": "dropped, ever, beyond "
                                                                  "--failures-max"},
                               "items": {"type": "array", "items": _FAILURE}}}),
    Route("POST", "/v1/failures/retry", "retryFailures", "Fire failures again now", retry,
          body=_SELECTION, data=_count("retried"),
          description="Each fires once more now, as it was claimed, and leaves the list "
                      "when it succeeds (failing again, it replaces its entry). "
                      + _FAILURES_DOC),
    Route("POST", "/v1/failures/discard", "discardFailures", "Remove failures", discard,
          body=_SELECTION, data=_count("discarded"), description=_FAILURES_DOC),
    Route("POST", "/v1/fire", "firePlan", "Fire a plan once now", fire, query=(_KEY,),
          data={"type": "object", "properties": {"fired": {"const": True}}},
          description="The plan's schedule goes on unchanged. Its outcome is in "
                      "/v1/history; failing every attempt, it goes to /v1/failures."),
)


@hookimpl
def register_routes(register: Callable[[Route], None]) -> None:
    for route in ROUTES:
        register(route)
