"""The original forsun's Python clients, ``from forsun import ThriftClient, TorThriftClient``
(also ``forsun.clients``), on top of :mod:`forsun.client`.

- :class:`ThriftClient` ``(port=6458, host="127.0.0.1")``: blocking, one connection;
  ``connect()`` opens it (a missing server fails there, as in the original; the first call
  opens it otherwise).
- :class:`TorThriftClient` ``(port=6458, host="127.0.0.1", max_stream=4)``: its methods
  are coroutines, awaited from asyncio or yielded from a tornado ``gen.coroutine`` alike;
  up to ``max_stream`` calls run at once.

Both have the original's methods and argument order (``create``, ``create_timeout``,
``remove``, ``get``, ``get_current``, ``get_time``, ``get_keys``, ``info``). Plans come
back with the original's attribute names (and ``created_time``, which the RPC does not
carry: 0); a refusal raises :class:`ForsunPlanError` with ``.code`` and ``.message``.
A server that cannot be reached raises ConnectionError (the original raised thrift's
``TTransportException``).
"""

from __future__ import annotations

from typing import Any

from ..client import DEFAULT_PORT, AsyncClient, Client, _argument_names, _transport_failures
from ..errors import ForsunPlanError

__all__ = ["ForsunPlanError", "ThriftClient", "TorThriftClient"]


class ThriftClient(Client):
    """The original's blocking client (see the module docstring)."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> None:
        super().__init__(host, port, max_connections=1)

    def connect(self) -> None:
        """Open the connection now; ConnectionError when the server cannot be reached."""
        with self._slots:
            try:
                connection = self._open()
            except _transport_failures() as exc:
                raise ConnectionError(f"forsund {self.host}:{self.port}: {exc}") from exc
            self._checkin(connection)

    def execute(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the RPC method ``name`` (``createTimeout``, ``getKeys``, ...) and return its
        raw result (plans as the IDL's ``ForsunPlan``)."""
        return self._call(name, *_positional(name, args, kwargs))


class TorThriftClient(AsyncClient):
    """The original's coroutine client (see the module docstring)."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
                 max_stream: int = 4) -> None:
        super().__init__(host, port, max_connections=max_stream)
        self.max_stream = max_stream


def _positional(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """``args`` followed by the ``kwargs`` that continue them, in the IDL's order."""
    names = _argument_names(method)
    merged = {**dict(zip(names, args, strict=False)), **kwargs}
    positional = []
    for name in names:
        if name not in merged:
            break
        positional.append(merged.pop(name))
    if merged:
        raise TypeError(f"{method}() got arguments it cannot send: {', '.join(merged)}")
    return positional
