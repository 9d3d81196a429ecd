"""A lean HTTP/1.1 load generator: keep-alive connections on asyncio protocols, one request in flight each.

On two cores the load generator shares the machine with the platform, so it has to be cheap: httpx
spends ~300 µs of CPU per request, which alone caps a 2-core machine near 1,000 requests/s. Here each
request is a pre-built byte string with one number patched in, and an answer is recognised by its status
line and Content-Length, ~15 µs per request.
"""

import asyncio
import time
from collections.abc import Callable

__all__ = ["Body", "post_many"]

Body = Callable[[int, int], bytes]  # (connection, sequence number) -> request body


class _Connection(asyncio.Protocol):
    def __init__(
        self,
        host: str,
        path: str,
        body: Body,
        index: int,
        deadline: float,
        limit: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        headers = {"Content-Type": "application/json"} | (headers or {})  # Avro bodies say so
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}"
        self._body = body
        self._index = index
        self._deadline = deadline
        self._limit = limit  # requests at most, if given
        self._buffer = b""
        self.accepted = 0  # answers with 202
        self.last = -1  # sequence number of the last accepted request
        self.other: dict[int, int] = {}  # other statuses, counted
        self.finished = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101
        self._transport = transport
        self._send()

    def _send(self) -> None:
        assert self._transport is not None  # noqa: S101
        sent = self.accepted + sum(self.other.values())
        if time.perf_counter() >= self._deadline or (self._limit is not None and sent >= self._limit):
            self._transport.close()
            return
        body = self._body(self._index, sent)
        self._transport.write(f"{self._head}Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[:end]
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            if len(self._buffer) < end + 4 + length:
                return
            self._buffer = self._buffer[end + 4 + length :]
            status = int(head[9:12])
            if status == 202:
                self.last = self.accepted + sum(self.other.values())
                self.accepted += 1
            else:
                self.other[status] = self.other.get(status, 0) + 1
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


async def _run(
    host: str,
    port: int,
    path: str,
    body: Body,
    connections: int,
    seconds: float,
    limit: int | None,
    headers: dict[str, str] | None,
) -> list[_Connection]:
    loop = asyncio.get_running_loop()
    deadline = time.perf_counter() + seconds
    protocols = [
        _Connection(f"{host}:{port}", path, body, i, deadline, limit, headers) for i in range(connections)
    ]
    for protocol in protocols:
        await loop.create_connection(lambda p=protocol: p, host, port)  # type: ignore[misc]
    await asyncio.gather(*(p.finished for p in protocols))
    return protocols


def post_many(
    host: str,
    port: int,
    path: str,
    body: Body,
    *,
    connections: int,
    seconds: float,
    limit: int | None = None,
    headers: dict[str, str] | None = None,
) -> list[tuple[int, int, dict[int, int]]]:
    """POST for `seconds` (or `limit` requests) on `connections` connections, with `headers` (e.g. a
    bearer token); per connection (accepted, last accepted sequence number, other statuses)."""
    protocols = asyncio.run(_run(host, port, path, body, connections, seconds, limit, headers))
    return [(p.accepted, p.last, p.other) for p in protocols]
