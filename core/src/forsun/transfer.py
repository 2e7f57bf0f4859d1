"""Moving plans in and out of a running forsund over its HTTP API: :func:`export_plans`
streams ``GET /v1/plans`` (NDJSON, a line at a time), :func:`import_plans` sends batches to
``POST /v1/plans?state=keep`` (plans restored with their schedule state). Blocking, stdlib
only; ``forsun export`` / ``forsun import`` are built on them.
"""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson

from .errors import ForsunPlanError

#: Plans per ``POST /v1/plans`` of :func:`import_plans` (the server stores 1000 per step).
BATCH = 1000
_INDEX = re.compile(r"\[(\d+)\]")


def _request(url: str, path: str, token: str, data: bytes | None = None,
             timeout: float = 30.0) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url.rstrip("/") + path, data=data, headers=headers,
                                     method="POST" if data is not None else "GET")
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        try:
            reply = orjson.loads(exc.read())
            raise ForsunPlanError(reply["errcode"], reply["errmsg"]) from None
        except (ValueError, KeyError, TypeError):
            raise ConnectionError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(f"{url}: {reason}") from None


def export_plans(url: str, prefix: str = "", *, token: str = "",
                 timeout: float = 30.0) -> Iterator[dict[str, Any]]:
    """Every plan of the forsund serving HTTP at ``url`` whose key starts with ``prefix``,
    as the API's plan objects, read as they arrive. Raises ``ConnectionError`` when the
    server cannot be reached or the stream is cut part way (it then never looks whole)."""
    query = urllib.parse.urlencode({"prefix": prefix})
    with _request(url, f"/v1/plans?{query}", token, timeout=timeout) as response:
        read = 0
        try:
            for line in response:
                if line.strip():
                    read += 1
                    yield orjson.loads(line)
        except (http.client.IncompleteRead, OSError) as exc:
            raise ConnectionError(f"{url}: the export was cut after {read} plans "
                                  f"({exc})") from None


def import_plans(url: str, plans: Sequence[Mapping[str, Any]], *, token: str = "",
                 timeout: float = 60.0) -> int:
    """Create or replace ``plans`` (objects as :func:`export_plans` yields them) with their
    schedule state, all or none, in one request; the number stored. A refusal raises
    :class:`ForsunPlanError` whose message starts with ``[i]`` for the plan at fault when
    one is (see :func:`refused_index`)."""
    body = orjson.dumps(list(plans))
    with _request(url, "/v1/plans?state=keep&reply=keys", token, body, timeout) as response:
        reply = orjson.loads(response.read())
    if reply["errcode"] != 0:
        raise ForsunPlanError(reply["errcode"], reply["errmsg"])
    return len(reply["data"])


def refused_index(error: ForsunPlanError) -> tuple[int, str] | None:
    """The index of the plan a refusal of :func:`import_plans` names and the reason (the
    message without the index), None if it names none (a storage failure, for instance)."""
    found = _INDEX.match(error.message)
    if not found:
        return None
    return int(found.group(1)), error.message[found.end():].lstrip(".: ")
