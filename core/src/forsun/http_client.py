"""The operator's calls over forsund's HTTP API (``forsund --http``): overview, nodes,
what is due, history, the failures list, retry, discard, fire now, metrics. Re-exported
by :mod:`forsun.client` as :class:`HttpClient`::

    client = HttpClient("127.0.0.1:8080", token=TOKEN)
    page = client.failures(prefix="order:")
    client.retry([failure.id for failure in page.items])

Blocking (stdlib :mod:`urllib`), one request per call. A refusal raises
:class:`~forsun.errors.ForsunPlanError` with the server's errcode; a server that cannot be
reached raises :class:`HttpUnreachable` (a :class:`ConnectionError`).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ErrorCode, ForsunPlanError
from .plan import Plan
from .store.failures import Failure, FailurePage


class HttpUnreachable(ConnectionError):
    """forsund's HTTP API did not answer (``address``: what was asked)."""

    def __init__(self, address: str, reason: object) -> None:
        super().__init__(f"cannot reach forsund's HTTP API at {address}: {reason}")
        self.address = address


class HttpClient:
    """Calls the HTTP API at ``address`` (``HOST:PORT`` or an ``http(s)://`` URL), with
    ``token`` when the server has a ``--token``; ``timeout`` bounds each request."""

    def __init__(self, address: str, *, token: str = "", timeout: float = 10.0) -> None:
        self.address = address
        self.base = address.rstrip("/") if "://" in address else f"http://{address}"
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, query: Mapping[str, Any] | None = None,
              body: Any = None, *, raw: bool = False) -> Any:
        url = self.base + path
        given = {name: value for name, value in (query or {}).items() if value is not None}
        if given:
            url += "?" + urllib.parse.urlencode(given)
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            if not payload.startswith(b"{"):
                raise ForsunPlanError(ErrorCode.UNKNOWN, f"HTTP {exc.code} from {url}") \
                    from exc
        except (OSError, urllib.error.URLError) as exc:
            raise HttpUnreachable(self.address, getattr(exc, "reason", exc)) from exc
        if raw:
            return payload.decode()
        reply = json.loads(payload)
        if reply.get("errcode"):
            raise ForsunPlanError(ErrorCode(reply["errcode"]), reply.get("errmsg", ""))
        return reply["data"]

    def overview(self) -> dict[str, Any]:
        return self._call("GET", "/v1/overview")

    def nodes(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/nodes")

    def due(self, seconds: int = 60, limit: int = 500) -> list[Plan]:
        """Plans due from now to ``seconds`` ahead, in order."""
        data = self._call("GET", "/v1/due", {"seconds": seconds, "limit": limit})
        return [Plan.from_dict(item) for item in data]

    def next_times(self, key: str, n: int = 5) -> list[int]:
        return self._call("GET", "/v1/plan/next", {"key": key, "n": n})

    def history(self, key: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Recent outcomes on the node asked, newest first (of ``key``; None: all)."""
        return self._call("GET", "/v1/history", {"key": key, "limit": limit})

    def failures(self, *, prefix: str = "", action: str = "", limit: int = 100,
                 offset: int = 0) -> FailurePage:
        data = self._call("GET", "/v1/failures", {"prefix": prefix, "action": action,
                                                   "limit": limit, "offset": offset})
        return FailurePage(data["total"], data["dropped"],
                           [Failure.from_dict(item) for item in data["items"]])

    @staticmethod
    def _selection(ids: Sequence[str] | None) -> dict[str, Any]:
        return {"all": True} if ids is None else {"ids": list(ids)}

    def retry(self, ids: Sequence[str] | None = None) -> int:
        """Fire failures again now (None: all); how many fired."""
        return self._call("POST", "/v1/failures/retry", body=self._selection(ids))["retried"]

    def discard(self, ids: Sequence[str] | None = None) -> int:
        """Remove failures (None: all); how many there were."""
        return self._call("POST", "/v1/failures/discard",
                          body=self._selection(ids))["discarded"]

    def fire(self, key: str) -> None:
        """Fire plan ``key`` once now; its schedule goes on unchanged."""
        self._call("POST", "/v1/fire", {"key": key}, body={})

    def metrics(self) -> str:
        """The Prometheus text of ``GET /metrics``."""
        return self._call("GET", "/metrics", raw=True)
