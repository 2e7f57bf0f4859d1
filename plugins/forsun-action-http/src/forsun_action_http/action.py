"""The http action: one request per firing on keep-alive connections.

Plain ``http://`` requests go the direct path (:mod:`forsun_action_http.direct`); https,
digest auth, HEAD and redirect hops go through a shared aiohttp session.

Params (all strings): ``url`` (required), ``method``, ``body``, ``header_NAME``,
``auth_username``, ``auth_password``, ``auth_mode``, ``user_agent``, ``connect_timeout``,
``request_timeout``. Every request carries ``X-FORSUN-KEY`` and ``X-FORSUN-TIMESTAMP`` (the
due second). A 2xx/3xx answer is a success; 5xx, 408, 429, timeouts and connection errors
ask for a retry; any other 4xx fails without one. Passwords never appear in messages.

Both paths send only what :func:`parse_call` accepted: header params may not set the
framing or the connection (:data:`FRAMING_HEADERS`: the action frames the body itself), and
header names are tokens and values free of control characters, so no param can make the
target read a second, smuggled request.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import logging
import math
import re
import time
from collections.abc import Mapping

import aiohttp
import attrs
from multidict import CIMultiDict
from yarl import URL

import forsun
from forsun.action import Action, ActionError, Firing
from forsun.errors import ForsunPlanError
from forsun.options import Options

from .deadlines import Deadlines
from .direct import ConnectTimeout, DirectClient, Disconnected, request_head

log = logging.getLogger(__name__)

METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS")
AUTH_MODES = ("basic", "digest")
#: 4xx answers that mean "not now" rather than "never".
RETRY_STATUSES = frozenset({408, 429})
HEADER_PREFIX = "header_"
#: RFC 9110 token: what a header name may consist of.
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Headers (lower case) a param may not set: they frame the message or belong to the
#: connection (RFC 9110 7.6.1, 10.1.1). Sent next to the body the action frames itself,
#: they would let the target read part of the body as a second request.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "te", "trailer",
                             "connection", "keep-alive", "proxy-connection", "upgrade",
                             "expect"})
#: Control characters a header value may not contain: C0 but horizontal tab, and DEL.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Bytes of an error answer's body quoted in the failure message.
SNIPPET_BYTES = 200
#: Bytes of an answer read at most; a longer one is cut and its connection not reused.
DRAIN_LIMIT = 1 << 20
MASK = "******"
#: Headers every request carries, set at each firing (a header param cannot replace them).
FORSUN_HEADERS = ("X-FORSUN-KEY", "X-FORSUN-TIMESTAMP")
#: Parsed params kept by :meth:`HttpAction.parse` (~1.5 KB each): more than the engine
#: prepares in the claim-ahead window before a boundary (~15-20 us each, 0.1 s).
PARSED_CALLS = 8192
#: Answers that redirect (followed, as aiohttp does, up to MAX_REDIRECTS hops in all).
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10


@attrs.frozen(slots=True)
class HttpCall:
    """A request built from a plan's params (see :func:`parse_call`). ``url`` carries no
    credentials; ``secrets`` are strings to mask in every message."""

    method: str
    url: URL
    body: bytes | None
    headers: tuple[tuple[str, str], ...]
    skip_auto_headers: tuple[str, ...]
    username: str
    password: str
    digest: bool
    connect_timeout: float
    request_timeout: float
    secrets: tuple[str, ...]
    #: the request line and headers for the direct path; None: aiohttp sends this one
    direct: bytes | None

    @property
    def timeout(self) -> aiohttp.ClientTimeout:
        """The timeouts for aiohttp (built when it sends: the direct path needs none)."""
        return aiohttp.ClientTimeout(total=self.request_timeout,
                                     sock_connect=self.connect_timeout)

    @property
    def target(self) -> str:
        return f"{self.method} {self.url}"

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


def _seconds(params: Mapping[str, str], name: str, default: float) -> float:
    text = params.get(name) or ""
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise ForsunPlanError.invalid(f"params.{name}", f"{text!r} is not a positive number "
                                                        "of seconds")
    return value


def _parse_url(text: str) -> URL:
    try:
        url = URL(text.strip())
    except (TypeError, ValueError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ForsunPlanError.invalid("params.url", "must be an absolute http:// or https:// "
                                                    "URL")
    return url


def _check_header(param: str, name: str, value: str) -> None:
    """1004 naming ``params.PARAM`` unless ``name: value`` is a header a param may send."""
    if not TOKEN.fullmatch(name):
        raise ForsunPlanError.invalid(f"params.{param}", "not a valid header name")
    if name.lower() in FRAMING_HEADERS:
        raise ForsunPlanError.invalid(f"params.{param}",
                                      f"{name} frames the message or the connection and may "
                                      "not be set (the action frames the body itself)")
    if CONTROL_CHARS.search(value):
        raise ForsunPlanError.invalid(f"params.{param}", "a header value may not contain "
                                                         "control characters (tab excepted)")


def parse_call(params: Mapping[str, str], *, connect_timeout: float, request_timeout: float,
               user_agent: str) -> HttpCall:
    """Build the request ``params`` describe; ForsunPlanError (1007 or 1004) naming the param.

    Credentials in the URL (``http://user:pass@host/``) are used like ``auth_username`` /
    ``auth_password`` (which win). As in the original (Tornado), a POST without a
    Content-Type header is sent as ``application/x-www-form-urlencoded``; other methods get
    no Content-Type unless a ``header_Content-Type`` param gives one.
    """
    if not params.get("url"):
        raise ForsunPlanError.missing("params.url", "http")
    url = _parse_url(params["url"])
    method = (params.get("method") or "GET").strip().upper()
    if method not in METHODS:
        raise ForsunPlanError.invalid("params.method", f"{params['method']!r} is not one of "
                                                       f"{', '.join(METHODS)} (any case)")
    auth_mode = (params.get("auth_mode") or "basic").strip().lower()
    if auth_mode not in AUTH_MODES:
        raise ForsunPlanError.invalid("params.auth_mode", f"{params['auth_mode']!r} is not "
                                                          "basic or digest")
    headers: CIMultiDict[str] = CIMultiDict()
    for key, value in params.items():
        if key.startswith(HEADER_PREFIX):
            name = key[len(HEADER_PREFIX):]
            _check_header(key, name, value)
            headers[name] = value
    if params.get("user_agent"):
        _check_header("user_agent", "User-Agent", params["user_agent"])
        headers["User-Agent"] = params["user_agent"]
    headers.setdefault("User-Agent", user_agent)
    skip: tuple[str, ...] = ()
    if "Content-Type" not in headers:
        if method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            skip = ("Content-Type",)
    username = params.get("auth_username") or url.user or ""
    password = params.get("auth_password") or url.password or ""
    secrets = tuple(s for s in {password, url.raw_password or ""} if s)
    digest = auth_mode == "digest"
    if (username or password) and not digest:
        headers["Authorization"] = _basic_auth(username, password)
    for name in FORSUN_HEADERS:  # set at each firing
        headers.popall(name, None)
    body = params.get("body")
    connect = _seconds(params, "connect_timeout", connect_timeout)
    total = _seconds(params, "request_timeout", request_timeout)
    if url.raw_user is not None or url.raw_password is not None:
        url = url.with_user(None)
    raw_body = body.encode() if body is not None else None
    return HttpCall(
        method=method, url=url, body=raw_body,
        headers=tuple(headers.items()), skip_auto_headers=skip,
        username=username, password=password, digest=digest,
        connect_timeout=connect, request_timeout=total, secrets=secrets,
        direct=None if digest else request_head(method, url, headers.items(), raw_body))


async def _read_head(response: aiohttp.ClientResponse) -> bytes:
    """Read the answer (so its connection can be reused) up to :data:`DRAIN_LIMIT`;
    return its first :data:`SNIPPET_BYTES`."""
    head = bytearray()
    total = 0
    async for chunk in response.content.iter_any():
        if len(head) < SNIPPET_BYTES:
            head += chunk[:SNIPPET_BYTES - len(head)]
        total += len(chunk)
        if total > DRAIN_LIMIT:
            break
    return bytes(head)


def _basic_auth(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _snippet(head: bytes) -> str:
    text = " ".join(head.decode("utf-8", errors="replace").split())
    return f": {text}" if text else ""


class HttpAction(Action):
    """Requests ``params["url"]`` (see the module docstring).

    Options: ``action_http_max_clients`` (connections per host), ``action_http_connect_timeout``,
    ``action_http_request_timeout``, ``action_http_user_agent``. The session is created on
    the first firing and closed by :meth:`close`.
    """

    name = "http"

    required_params = ("url",)

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.max_clients = max(1, int(options.action_http_max_clients))
        self.connect_timeout = float(options.action_http_connect_timeout)
        self.request_timeout = float(options.action_http_request_timeout)
        self.user_agent = options.action_http_user_agent or f"forsun/{forsun.__version__}"
        self._session: aiohttp.ClientSession | None = None
        self._direct: DirectClient | None = None
        self._deadlines = Deadlines()
        self._calls: collections.OrderedDict[tuple[tuple[str, str], ...], HttpCall] = \
            collections.OrderedDict()

    def parse(self, params: Mapping[str, str]) -> HttpCall:
        """:func:`parse_call` with this action's defaults. Calls are cached by params: the
        same params are parsed when a plan is created and at each of its firings, and many
        plans share theirs."""
        items = tuple(params.items())
        call = self._calls.get(items)
        if call is None:
            call = parse_call(params, connect_timeout=self.connect_timeout,
                              request_timeout=self.request_timeout, user_agent=self.user_agent)
            if len(self._calls) >= PARSED_CALLS:
                self._calls.popitem(last=False)  # the oldest (O(1), unlike a dict's)
            self._calls[items] = call
        return call

    def validate(self, params: Mapping[str, str]) -> None:
        """1007 without ``url``; 1004 naming the param for a bad URL, method, auth mode,
        header or timeout."""
        self.parse(params)

    def prepare(self, params: Mapping[str, str]) -> None:
        """Parse ``params`` ahead of the firing (into :meth:`parse`'s cache)."""
        with contextlib.suppress(ForsunPlanError):
            self.parse(params)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No cookie jar: one plan's target must not set cookies for the others.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=self.max_clients),
                cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def execute(self, firing: Firing) -> None:
        try:
            call = self.parse(firing.params)
        except ForsunPlanError as exc:
            raise ActionError(f"http: {exc.message}") from None
        if CONTROL_CHARS.search(firing.key):
            raise ActionError(f"{call.target}: key {firing.key!r} has a control character, "
                              "which the X-FORSUN-KEY header cannot carry")
        started = time.monotonic()
        if call.direct is None:
            status, reason, head = await self._via_aiohttp(call, firing, call.method, call.url,
                                                           call.body, dict(call.headers))
        else:
            status, reason, head = await self._direct_then_redirects(call, firing)
        if status < 400:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("http %s (key %s, due %d) answered %d in %.1f ms", call.target,
                          firing.key, firing.ts, status, (time.monotonic() - started) * 1000)
            return
        retry = status >= 500 or status in RETRY_STATUSES
        raise ActionError(call.scrub(f"{call.target}: HTTP {status} {reason}"
                                     f"{_snippet(head)}"), retry=retry)

    async def _direct_then_redirects(self, call: HttpCall, firing: Firing
                                     ) -> tuple[int, str, bytes]:
        """The request on the direct path; a redirect is followed through aiohttp."""
        assert call.direct is not None
        if self._direct is None:
            self._direct = DirectClient(self.max_clients, SNIPPET_BYTES, DRAIN_LIMIT)
        data = b"%sX-FORSUN-TIMESTAMP: %d\r\nX-FORSUN-KEY: %s\r\n\r\n%s" % (
            call.direct, firing.ts, firing.key.encode("utf-8"), call.body or b"")
        try:
            answer = await self._deadlines.within(
                call.request_timeout, self._direct.pool(call.url).request(data,
                                                                          call.connect_timeout))
        except ConnectTimeout:
            raise _connect_timeout(call) from None
        except TimeoutError:
            raise _request_timeout(call) from None
        except (Disconnected, OSError) as exc:
            raise ActionError(call.scrub(f"{call.target}: {type(exc).__name__}: {exc}"),
                              retry=True) from None
        if answer.status not in REDIRECTS or answer.location is None:
            return answer.status, answer.reason, answer.head
        method, url, body, headers = _redirected(call, answer.status, answer.location)
        return await self._via_aiohttp(call, firing, method, url, body, headers,
                                       max_redirects=MAX_REDIRECTS - 1)

    async def _via_aiohttp(self, call: HttpCall, firing: Firing, method: str, url: URL,
                           body: bytes | None, headers: dict[str, str],
                           max_redirects: int = MAX_REDIRECTS) -> tuple[int, str, bytes]:
        """Send through aiohttp (following redirects); ``headers`` has no X-FORSUN-*."""
        headers["X-FORSUN-TIMESTAMP"] = str(firing.ts)
        headers["X-FORSUN-KEY"] = firing.key
        middlewares: tuple[aiohttp.DigestAuthMiddleware, ...] = ()
        if call.digest and (call.username or call.password):
            middlewares = (aiohttp.DigestAuthMiddleware(call.username, call.password),)
        try:
            async with self._client().request(
                    method, url, data=body, headers=headers, middlewares=middlewares,
                    skip_auto_headers=call.skip_auto_headers or None, timeout=call.timeout,
                    max_redirects=max_redirects) as response:
                head = await _read_head(response)
        except aiohttp.ConnectionTimeoutError:
            raise _connect_timeout(call) from None
        except TimeoutError:
            raise _request_timeout(call) from None
        except (aiohttp.InvalidURL, aiohttp.TooManyRedirects, ValueError) as exc:
            raise ActionError(call.scrub(f"{call.target}: {type(exc).__name__}: {exc}"),
                              retry=False) from None
        except aiohttp.ClientError as exc:
            raise ActionError(call.scrub(f"{call.target}: {type(exc).__name__}: {exc}"),
                              retry=True) from None
        return response.status, response.reason or "", head

    async def close(self) -> None:
        if self._direct is not None:
            self._direct.close()
            self._direct = None
        if self._session is not None:
            await self._session.close()
            self._session = None


def _connect_timeout(call: HttpCall) -> ActionError:
    return ActionError(f"{call.target}: could not connect within {call.connect_timeout:g}s",
                       retry=True)


def _request_timeout(call: HttpCall) -> ActionError:
    return ActionError(f"{call.target}: no complete answer within {call.request_timeout:g}s",
                       retry=True)


def _redirected(call: HttpCall, status: int, location: str
                ) -> tuple[str, URL, bytes | None, dict[str, str]]:
    """The next hop of ``call`` redirected by ``status`` to ``location``, by aiohttp's
    rules: 303, and 301/302 after a POST, become a bodiless GET; a relative location is
    resolved against the URL; credentials are not sent to another origin.
    ActionError (no retry) for a location that is not an http(s) URL."""
    method, body, headers = call.method, call.body, dict(call.headers)
    if status == 303 or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
    try:
        url = URL(location)
        if url.scheme not in ("http", "https", ""):
            raise ValueError(f"not an http(s) URL: {location!r}")
        if not url.absolute or not url.host:
            url = call.url.join(url)
        same_origin = url.origin() == call.url.origin()
    except ValueError as exc:
        raise ActionError(call.scrub(f"{call.target}: redirected to a bad location: {exc}"),
                          retry=False) from None
    if not same_origin:
        headers = {name: value for name, value in headers.items()
                   if name.lower() not in ("authorization", "cookie")}
    return method, url, body, headers
