"""One connection to a Thrift server speaking forsun's IDL (binary protocol, buffered
transport, as the original forsun's thrift action and front end)."""

from __future__ import annotations

from collections.abc import Mapping

from thriftpy2.contrib.aio.client import TAsyncClient
from thriftpy2.contrib.aio.protocol.binary import TAsyncBinaryProtocolFactory
from thriftpy2.contrib.aio.socket import TAsyncSocket
from thriftpy2.contrib.aio.transport.buffered import TAsyncBufferedTransportFactory

from forsun.idl import load_idl


class ThriftConnection:
    """A connected ``Forsun`` client. Not safe for concurrent use: a pool hands it to one
    task at a time."""

    def __init__(self, socket: TAsyncSocket, client: TAsyncClient) -> None:
        self._socket = socket
        self._client = client

    @classmethod
    async def open(cls, host: str, port: int, timeout: float) -> ThriftConnection:
        """Connect; ``timeout`` (seconds) bounds the connection and every later read."""
        millis = int(timeout * 1000)
        socket = TAsyncSocket(host, port, socket_timeout=millis, connect_timeout=millis)
        transport = TAsyncBufferedTransportFactory().get_transport(socket)
        protocol = TAsyncBinaryProtocolFactory().get_protocol(transport)
        await transport.open()
        return cls(socket, TAsyncClient(load_idl().Forsun, protocol))

    @property
    def stale(self) -> bool:
        """Whether the server has closed this connection (checked before reusing it)."""
        return self._socket.reader.at_eof()

    async def forsun_call(self, key: str, ts: int, params: Mapping[str, str]) -> None:
        await self._client.forsun_call(key, ts, dict(params))

    def close(self) -> None:
        self._client.close()
