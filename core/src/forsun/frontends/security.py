"""The shared token of the front ends (``--token``) and the warning for exposed listeners.

With ``--token`` set, every request must carry the token, except a ping (which reveals
nothing and serves health checks):

- HTTP: the header ``Authorization: Bearer TOKEN``. ``GET /v1/ping`` and
  ``GET /v1/openapi.json`` are open.
- Thrift, without a handshake, in one of two places:

  * the reserved argument field :data:`forsun.idl.TOKEN_FIELD_ID` (a string) that any
    call may add to its arguments struct. It works for every method;
    ``forsun.client.Client(token=)`` sends it. A client generated from an IDL adds
    ``32767: optional string token`` to the arguments of each method it calls (old
    clients never send that id, so the IDL stays compatible);
  * for ``create`` and ``createTimeout`` only, the params entry :data:`TOKEN_PARAM`, which
    any existing client can send without regenerating code.

  ``ping`` is open. The params entry is always removed before a plan is stored, with or
  without a configured token, so a token never reaches a store, an action or a log.

A browser page of another site must not change plans with the credentials of the person
using it: the HTTP front end refuses (403) every POST, PUT and DELETE whose ``Origin`` is
not the server's own or whose ``Sec-Fetch-Site`` says it comes from another site
(:func:`cross_site`), with or without ``--token``.

Without ``--token`` nothing is checked and old clients work unchanged. Tokens are compared
in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tornado.httputil import HTTPServerRequest

log = logging.getLogger(__name__)

#: The params entry carrying the token in Thrift ``create``/``createTimeout``.
TOKEN_PARAM = "__token"


def check_token(token: str) -> None:
    """ValueError naming ``--token`` unless ``token`` is empty or printable ASCII without
    spaces (what an HTTP header carries unchanged)."""
    if token and not all("!" <= char <= "~" for char in token):
        raise ValueError("--token: use printable ASCII characters without spaces "
                         "(it travels in an HTTP header)")


def token_accepted(configured: str, given: str | None) -> bool:
    """Whether a request carrying ``given`` may pass when ``configured`` is the server's
    token (an empty ``configured`` lets everything pass)."""
    if not configured:
        return True
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                               configured.encode("utf-8", "surrogatepass"))


def cross_site(request: HTTPServerRequest) -> bool:
    """Whether a browser sent ``request`` from a page of another origin: its
    ``Sec-Fetch-Site`` is ``cross-site`` or ``same-site``, or its ``Origin`` is not this
    server's own (scheme and ``Host``). Clients other than browsers send neither header."""
    headers = request.headers
    if headers.get("Sec-Fetch-Site", "").strip().lower() in ("cross-site", "same-site"):
        return True
    origin = headers.get("Origin")
    return origin is not None and origin.strip().lower() != \
        f"{request.protocol}://{request.host}".lower()


def is_loopback(host: str) -> bool:
    """True when ``host`` (an address or ``localhost``) is reachable only from this
    machine. An empty host means every interface; other names are not resolved and count
    as reachable from elsewhere."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(flag: str, host: str, token: str) -> None:
    """Log a warning when a front end listens beyond loopback without a token."""
    if token or is_loopback(host):
        return
    shown = host or "every interface"
    log.warning("%s listens on %s without --token: anyone who can reach it can create, "
                "read and remove plans (and run their actions); set --token or bind "
                "127.0.0.1", flag, shown)
