"""The ``timerush`` action: notifies a timerush callback when its timer is due.

Params: ``callback_cmd`` (required, an http:// or https:// URL) and ``callback_data`` (the
raw request body, default empty). The POST carries no Content-Type (as timerush's did) and
the headers ``X-FORSUN-KEY`` / ``X-FORSUN-TIMESTAMP`` (key and due second, so a callback can
deduplicate: delivery is at least once).

Outcome:

- a 2xx answer that is a JSON object with ``ret`` 0: success;
- any other answer, a connection error or a timeout: failure, retried by the engine;
- an accepted answer with ``data.seconds`` > 0 registers a follow-up timer from
  ``data.callback_cmd`` / ``data.callback_data`` (timerush's chaining) through the service
  the action is attached to (:meth:`TimerushAction.attach`). An invalid follow-up is a
  failure without retry: the callback already accepted the notification, so sending it
  again would not help. A follow-up the store refused is retried.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from forsun.action import Action, ActionError, Firing
from forsun.errors import ForsunPlanError
from forsun.options import Options

from .protocol import (
    ACTION,
    NotAcceptedError,
    ProtocolError,
    check_callback_url,
    follow_up_key,
    parse_answer,
    timer_plan,
)

if TYPE_CHECKING:
    import aiohttp

    from forsun.service import Service

log = logging.getLogger(__name__)

#: Largest callback answer read; a longer one is not accepted.
MAX_ANSWER_BYTES = 1 << 20
#: Bytes of a refused answer quoted in the failure message.
SNIPPET_BYTES = 200


def client_ssl_context(pem: str, ca: str) -> ssl.SSLContext | None:
    """The TLS context for https callbacks: the system's trusted CAs, or those in ``ca``;
    with ``pem`` (a client certificate and its unencrypted key) presented to servers that
    ask for one. None when neither is given (the default context then)."""
    if not pem and not ca:
        return None
    try:
        context = ssl.create_default_context(cafile=ca or None)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"--timerush-ca {ca}: {exc}") from None
    if pem:
        try:
            # An encrypted key would make OpenSSL prompt on the terminal: refuse it instead.
            context.load_cert_chain(pem, password=lambda: b"")
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"--timerush-pem {pem}: not a readable PEM file holding a "
                             f"certificate and its unencrypted private key ({exc})") from None
    return context


def _shown(url: str) -> str:
    """``url`` for messages: a password in it is masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":******@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _snippet(body: bytes) -> str:
    text = " ".join(body[:SNIPPET_BYTES].decode("utf-8", errors="replace").split())
    return f": {text}" if text else ""


class TimerushAction(Action):
    """POSTs ``callback_data`` to ``callback_cmd`` (see the module docstring).

    Options: ``timerush_pem``, ``timerush_ca`` (read at construction: a bad file is an
    error at start-up, not at the first firing), ``timerush_timeout``,
    ``timerush_max_clients``. The HTTP session is created on the first firing.
    """

    name = ACTION
    required_params = ("callback_cmd",)

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.timeout = float(options.timerush_timeout)
        self.max_clients = max(1, int(options.timerush_max_clients))
        self.ssl = client_ssl_context(options.timerush_pem, options.timerush_ca)
        self.service: Service | None = None
        self._session: aiohttp.ClientSession | None = None

    def attach(self, service: Service) -> None:
        """Register follow-up timers through ``service`` from now on."""
        self.service = service

    def validate(self, params: Mapping[str, str]) -> None:
        """1007 without ``callback_cmd``; 1004 when it is not an http(s) URL."""
        super().validate(params)
        try:
            check_callback_url(params["callback_cmd"])
        except ProtocolError as exc:
            raise ForsunPlanError.invalid("params.callback_cmd", str(exc)) from None

    def _client(self) -> aiohttp.ClientSession:
        import aiohttp  # here, not at module level: forsund builds this action at start-up

        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_clients, ssl=self.ssl or True)
            self._session = aiohttp.ClientSession(connector=connector,
                                                  cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def execute(self, firing: Firing) -> None:
        url = firing.params.get("callback_cmd", "")
        try:
            check_callback_url(url)
        except ProtocolError as exc:
            raise ActionError(f"timerush: {exc}") from None
        target = f"POST {_shown(url)}"
        body = await self._notify(url, target, firing)
        try:
            follow_up = parse_answer(body)
        except NotAcceptedError as exc:
            raise ActionError(f"{target}: {exc}{_snippet(body)}", retry=True) from None
        except ProtocolError as exc:
            raise ActionError(f"{target}: accepted, but its follow-up timer is invalid: "
                              f"{exc}") from None
        if follow_up is None:
            return
        if self.service is None:
            raise ActionError(f"{target}: accepted, but no service is attached to register "
                              f"its follow-up timer")
        plan = timer_plan(follow_up, follow_up_key(firing.key, firing.ts))
        try:
            await self.service.create(plan)
        except ForsunPlanError as exc:
            raise ActionError(f"{target}: accepted, but registering its follow-up timer "
                              f"failed: {exc}", retry=True) from None
        log.debug("%s (key %s) registered follow-up %s in %ds", target, firing.key, plan.key,
                  follow_up.seconds)

    async def _notify(self, url: str, target: str, firing: Firing) -> bytes:
        """POST the notification; the body of a 2xx answer (ActionError with retry
        otherwise, its message starting with ``target``)."""
        import aiohttp

        headers = {"X-FORSUN-KEY": firing.key, "X-FORSUN-TIMESTAMP": str(firing.ts)}
        data = firing.params.get("callback_data", "").encode()
        try:
            async with self._client().post(
                    url, data=data, headers=headers, skip_auto_headers=("Content-Type",),
                    timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
                body = bytearray()
                async for chunk in response.content.iter_any():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        break
        except TimeoutError:
            raise ActionError(f"{target}: no answer within {self.timeout:g}s",
                              retry=True) from None
        except aiohttp.ClientError as exc:
            raise ActionError(f"{target}: {type(exc).__name__}: {exc}", retry=True) from None
        if not 200 <= response.status < 300:
            raise ActionError(f"{target}: HTTP {response.status} {response.reason or ''}"
                              f"{_snippet(body)}", retry=True)
        if len(body) > MAX_ANSWER_BYTES:
            raise ActionError(f"{target}: the answer is longer than {MAX_ANSWER_BYTES} bytes",
                              retry=True)
        return bytes(body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
