"""The timerush front end: timerush's HTTP protocol on ``--timerush-listen``.

- ``POST /register/`` ``{"callback_cmd", "callback_data", "seconds"}`` →
  ``{"ret": 0, "data": {"key": KEY}}``
- ``POST /unregister/`` ``{"key"}`` → ``{"ret": 0, "data": {"ttl": SECONDS_REMAINING}}``

Bodies are JSON whatever the Content-Type says; a trailing slash is optional. Every answer
is a JSON object with HTTP status 200, as timerush's were: a malformed request gets
``{"ret": 1, "msg": ...}``, a refusal of the service its forsun code as ``ret`` (1003 for a
key that is not a pending timerush timer, 1004 when storing failed). An unknown path or
method gets ``ret`` 1 with status 404 or 405.

Timers are created and removed through the :class:`forsun.service.Service` API only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from forsun.frontends.base import Frontend

if TYPE_CHECKING:
    from aiohttp import web

    from forsun.service import Service

_LISTEN = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})")


def parse_listen(text: str) -> tuple[str | None, int]:
    """``(host, port)`` of ``HOST:PORT``, ``[IPV6]:PORT`` or ``:PORT`` (host None: every
    interface). ValueError naming ``--timerush-listen`` otherwise."""
    match = _LISTEN.fullmatch(text.strip())
    if match is None or int(match["port"]) > 65535:
        raise ValueError(f"--timerush-listen {text!r}: expected HOST:PORT or :PORT")
    return match["v6"] or match["host"] or None, int(match["port"])


class TimerushFrontend(Frontend):
    """Serves the protocol with aiohttp (:mod:`.app`, imported when started) on the running
    event loop; off when ``--timerush-listen`` is empty."""

    def __init__(self, service: Service) -> None:
        super().__init__(service)
        self.listen = str(service.options.timerush_listen or "").strip()
        self._runner: web.AppRunner | None = None
        self._address = ""

    @property
    def enabled(self) -> bool:
        return bool(self.listen)

    @property
    def address(self) -> str:
        return self._address

    def info(self) -> dict[str, str]:
        return {"timerush_bind_port": self._address}

    async def start(self) -> None:
        from aiohttp import web

        from .app import make_app

        host, port = parse_listen(self.listen)
        runner = web.AppRunner(make_app(self.service), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(exc.errno, f"--timerush-listen {self.listen}: {exc.strerror}") \
                from exc
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self._address = (f"[{bound_host}]:{bound_port}" if ":" in bound_host
                         else f"{bound_host}:{bound_port}")

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
